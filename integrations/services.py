"""Changes to PSA connections, company mappings and webhook subscriptions, each audited.

Webhook secrets and receiver credentials are write-only: encrypted on the row, shown once when
generated, and never in an audit entry, a log line or an API response after that.
"""

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core import audit, events
from core.models import EventTypeChoices
from customers.services import customer_updated_events
from integrations.delivery import OUTBOX as webhook_outbox
from integrations.delivery import queue
from integrations.fanout import create_test_delivery
from integrations.models import (
    PsaCompanyMapping,
    PsaConnection,
    WebhookAuthChoices,
    WebhookDelivery,
    WebhookDeliveryStateChoices,
    WebhookSubscription,
    new_webhook_secret,
)
from outbound import signing
from outbound.urlguard import same_origin

SUBSCRIPTION_FIELDS = ("name", "target_url", "event_types", "psa", "is_active", "auth_type")
PSA_FIELDS = ("name", "kind", "default_company_id", "is_active")
SECRET_SET = "set"  # noqa: S105 - a marker the audit log holds instead of a secret
SECRET_CHANGED = "changed"  # noqa: S105 - a marker, not a secret
# The least a signing secret typed in may hold (decoded); generated ones hold 32 bytes.
MIN_SECRET_BYTES = 24


# --- checks shared by the form and the API --------------------------------------------------


def check_event_types(values):
    known = set(EventTypeChoices.values)
    if not values:
        return _("Choose at least one event.")
    unknown = sorted(set(values) - known)
    if unknown:
        return _("Unknown events: %(events)s.") % {"events": ", ".join(unknown)}
    return None


def check_auth(auth_type, username, secret, has_secret):
    """Field errors for the receiver's credentials: ``{field: message}``."""
    errors = {}
    if auth_type == WebhookAuthChoices.BASIC and not username:
        errors["auth_username"] = _("Basic authentication needs a user name.")
    if auth_type in (WebhookAuthChoices.BASIC, WebhookAuthChoices.BEARER) and not (
        secret or has_secret
    ):
        errors["auth_secret"] = _("Enter the password or token the receiver expects.")
    return errors


def check_secret(secret):
    """Why a typed signing secret cannot be used, or None. Its strength is the decoded key's."""
    if not secret:
        return None
    if not secret.startswith(signing.SECRET_PREFIX):
        return _("A signing secret starts with whsec_ (Standard Webhooks format).")
    try:
        key = signing.signing_key(secret)
    except signing.SignatureError:
        return _("The part after whsec_ must be base64.")
    if len(key) < MIN_SECRET_BYTES:
        return _(
            "Use at least %(count)s random bytes (%(chars)s base64 characters after whsec_)."
        ) % {"count": MIN_SECRET_BYTES, "chars": MIN_SECRET_BYTES * 4 // 3}
    return None


# --- webhook subscriptions ------------------------------------------------------------------


def subscription_snapshot(subscription):
    data = {field: getattr(subscription, field) for field in SUBSCRIPTION_FIELDS}
    data["psa"] = subscription.psa_id
    data["customers"] = sorted(subscription.customers.values_list("pk", flat=True))
    data["auth_username"] = subscription.auth_username
    data["auth_secret"] = SECRET_SET if subscription.auth_secret_encrypted else ""
    return data


@transaction.atomic
def create_subscription(*, actor, data, customers=(), secret="", auth_secret="", request=None):
    """Create a subscription; returns ``(subscription, signing secret)`` (shown once)."""
    secret = secret or new_webhook_secret()
    subscription = WebhookSubscription(created_by=actor, **data)
    subscription.secret = secret
    subscription.auth_secret = auth_secret
    subscription.save()
    subscription.customers.set(customers)
    after = subscription_snapshot(subscription)
    after["secret"] = SECRET_SET
    audit.record_change(actor, "webhook.created", subscription, None, after, request)
    return subscription, secret


@transaction.atomic
def update_subscription(subscription, *, actor, data, customers=None, auth_secret="", request=None):
    """Change fields; an empty ``auth_secret`` keeps the stored one.

    Not when the target URL moves to another origin (scheme, host, port): whoever may edit the
    URL could then have the stored password or token sent to a host of their own. Such a change
    needs it typed again. The signing secret stays: it is never sent, only signatures are.
    """
    subscription = WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)
    before = subscription_snapshot(subscription)
    was_active = subscription.is_active
    for field, value in data.items():
        setattr(subscription, field, value)
    if subscription.auth_type == WebhookAuthChoices.NONE:
        subscription.auth_username = ""
        subscription.auth_secret = ""
    elif auth_secret:
        subscription.auth_secret = auth_secret
    elif subscription.auth_secret_encrypted and not same_origin(
        subscription.target_url, before["target_url"]
    ):
        raise ValidationError(
            {
                "auth_secret": _(
                    "Enter the password or token again: it is not sent to a new host without it."
                )
            }
        )
    if subscription.is_active and not was_active:
        _reset_health(subscription)
    elif not subscription.is_active and was_active:
        subscription.disabled_at = timezone.now()
        subscription.disabled_reason = _("Disabled by %(user)s.") % {"user": actor}
    subscription.save()
    if customers is not None:
        subscription.customers.set(customers)
    after = subscription_snapshot(subscription)
    if auth_secret and before["auth_secret"]:
        after["auth_secret"] = SECRET_CHANGED
    audit.record_change(actor, "webhook.updated", subscription, before, after, request)
    if subscription.is_active and not was_active:
        _queue_waiting(subscription)
    return subscription


def _reset_health(subscription):
    subscription.disabled_at = None
    subscription.disabled_reason = ""
    subscription.consecutive_failures = 0
    subscription.failing_since = None


def _queue_waiting(subscription):
    """Deliveries written before the subscription was switched off go out once it is back on."""
    waiting = list(
        subscription.deliveries.filter(state=WebhookDeliveryStateChoices.PENDING).values_list(
            "pk", flat=True
        )[:1000]
    )
    transaction.on_commit(lambda: queue(waiting))


@transaction.atomic
def rotate_secret(subscription, *, actor, request=None):
    """A new signing secret; the old one keeps signing too for the grace period. Returns it."""
    subscription = WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)
    secret = new_webhook_secret()
    subscription.previous_secret_encrypted = subscription.secret_encrypted
    subscription.previous_secret_expires_at = timezone.now() + timedelta(
        hours=settings.WEBHOOK_SECRET_ROTATION_GRACE_HOURS
    )
    subscription.secret = secret
    subscription.save(
        update_fields=[
            "secret_encrypted",
            "previous_secret_encrypted",
            "previous_secret_expires_at",
            "modified_at",
        ]
    )
    audit.record(
        actor=actor,
        action="webhook.secret_rotated",
        target=subscription,
        after={
            "secret": SECRET_CHANGED,
            "previous_secret_valid_until": subscription.previous_secret_expires_at,
        },
        request=request,
    )
    return secret


@transaction.atomic
def send_test_event(subscription, *, actor, request=None):
    """Write a ``webhook.test`` delivery and wake a worker; returns the delivery."""
    delivery = create_test_delivery(subscription)
    audit.record(
        actor=actor,
        action="webhook.tested",
        target=subscription,
        after={"delivery": delivery.message_id},
        request=request,
    )
    transaction.on_commit(lambda: queue([delivery.pk]))
    return delivery


@transaction.atomic
def redeliver(delivery, *, actor, request=None):
    """Send a delivery again, now, with the same ``webhook-id`` so the receiver can dedupe."""
    webhook_outbox.redeliver(WebhookDelivery.objects.filter(pk=delivery.pk))
    audit.record(
        actor=actor,
        action="webhook.redelivered",
        target=delivery.subscription,
        after={"delivery": delivery.message_id, "previous_state": delivery.state},
        request=request,
    )
    delivery.refresh_from_db()
    return delivery


# --- PSA connections and company mappings ---------------------------------------------------


def psa_snapshot(psa):
    return {field: getattr(psa, field) for field in PSA_FIELDS}


@transaction.atomic
def save_psa(psa, *, actor, data, request=None):
    """Create (``psa`` None) or change a PSA connection."""
    creating = psa is None
    before = None if creating else psa_snapshot(psa)
    psa = psa or PsaConnection()
    for field, value in data.items():
        setattr(psa, field, value)
    psa.save()
    after = psa_snapshot(psa)
    audit.record_change(
        actor,
        "psa_connection.created" if creating else "psa_connection.updated",
        psa,
        before,
        after,
        request,
    )
    return psa


@transaction.atomic
def set_company_ids(customer, *, actor, company_ids, request=None):
    """Set the customer's company id per PSA (``{psa: id or ""}``; blank removes the mapping).

    Emits ``customer.updated`` when anything changed, so PSAs hear about the new mapping.
    """
    current = {mapping.psa_id: mapping for mapping in customer.psa_companies.select_for_update()}
    before = {str(psa_id): mapping.company_id for psa_id, mapping in current.items()}
    for psa, company_id in company_ids.items():
        company_id = (company_id or "").strip()
        mapping = current.get(psa.pk)
        if not company_id:
            if mapping is not None:
                mapping.delete()
                del current[psa.pk]
        elif mapping is None:
            current[psa.pk] = PsaCompanyMapping.objects.create(
                customer=customer, psa=psa, company_id=company_id
            )
        elif mapping.company_id != company_id:
            mapping.company_id = company_id
            mapping.save(update_fields=["company_id", "modified_at"])
    after = {str(psa_id): mapping.company_id for psa_id, mapping in current.items()}
    if not audit.record_change(
        actor, "customer.psa_companies_changed", customer, before, after, request
    ):
        return False
    events.record(customer_updated_events({customer.pk: ["psa_companies"]}))
    return True
