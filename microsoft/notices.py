"""Telling Global admins that the Microsoft connection broke (email; the pages show a banner)."""

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.roles import Role
from core.events import absolute_url
from microsoft.models import MicrosoftConnection

logger = logging.getLogger(__name__)


def connection_broken():
    """One email to every active Global admin; returns how many were sent (0 or 1)."""
    connection = MicrosoftConnection.get()
    admins = User.objects.staff_members().filter(is_active=True, groups__name=Role.GLOBAL_ADMIN)
    recipients = list(admins.values_list("email", flat=True))
    if not recipients:
        return 0
    subject = _("The Microsoft connection is broken")
    body = _(
        "Microsoft refused the partner's refresh token; the portal can no longer call Partner "
        "Center or Graph as the partner.\n\nWhy: %(reason)s\n\n"
        "A partner admin must connect again: %(link)s"
    ) % {
        "reason": connection.last_error,
        "link": absolute_url(reverse("microsoft:connection")),
    }
    try:
        return send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)
    except Exception:
        # The banner shows the breakage either way; a mail outage must not hide it.
        logger.warning(
            "could not email admins about the broken Microsoft connection", exc_info=True
        )
        return 0
