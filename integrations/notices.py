"""Telling Global admins that a webhook subscription was disabled (email; the UI shows it too)."""

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.roles import Role
from core.events import absolute_url
from integrations.models import WebhookSubscription

logger = logging.getLogger(__name__)


def subscription_disabled(subscription_id):
    subscription = WebhookSubscription.objects.get(pk=subscription_id)
    recipients = list(
        User.objects.staff_members()
        .filter(is_active=True, groups__name=Role.GLOBAL_ADMIN)
        .values_list("email", flat=True)
    )
    if not recipients:
        return 0
    subject = _("Webhook “%(name)s” was disabled") % {"name": subscription.name}
    body = _(
        "The portal stopped sending events to %(url)s.\n\nWhy: %(reason)s\n\n"
        "Events are kept; once the receiver works again, enable the subscription and redeliver "
        "what failed: %(link)s"
    ) % {
        "url": subscription.target_url,
        "reason": subscription.disabled_reason,
        "link": absolute_url(reverse("integrations:webhook_detail", args=[subscription.pk])),
    }
    try:
        return send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)
    except Exception:
        # The subscription page shows it disabled either way; a mail outage must not hide that.
        logger.warning("could not email admins about webhook %s", subscription_id, exc_info=True)
        return 0
