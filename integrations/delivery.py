"""Sending webhook deliveries: claim with a lease, sign, POST, record, retry with backoff.

The same outbox discipline as service-request deliveries (``servicerequests.delivery``): a worker
claims a row with a conditional UPDATE, so two workers never send it at once, and a worker killed
mid-send frees it when the lease runs out; the sweep hands it to another, which sends the same
``webhook-id`` again. Each attempt is logged with its status, duration and the start of the
response. 2xx is delivered; 410 Gone disables the subscription; anything else (4xx, 5xx, 429,
redirects, timeouts) is retried on a schedule of growing waits, honouring ``Retry-After``. A
subscription that has failed for ``WEBHOOK_DISABLE_AFTER_HOURS`` is disabled and admins are told.
"""

import logging
import random
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from core import broker, outbox
from integrations import notices
from integrations.sending import SendFailed, body_bytes, send
from integrations.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookDeliveryStateChoices,
    WebhookSubscription,
)

logger = logging.getLogger(__name__)

State = WebhookDeliveryStateChoices
LEASE = timedelta(seconds=settings.DELIVERY_LEASE_SECONDS)
# The task that runs ``deliver`` (integrations.tasks); queued by name: tasks imports this module.
DELIVER_TASK = "integrations.tasks.deliver"
# Waits before attempts 2, 3, …: a receiver that is down for a day still gets everything.
RETRY_SCHEDULE = [
    timedelta(seconds=5),
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
]
MAX_ATTEMPTS = len(RETRY_SCHEDULE) + 1
MAX_RETRY_AFTER = timedelta(hours=1)


# --- the outbox -----------------------------------------------------------------------------


def next_wait(attempts, retry_after=None):
    """How long to wait after ``attempts`` failed tries (Retry-After wins, within reason)."""
    if retry_after is not None:
        return timedelta(seconds=min(retry_after, MAX_RETRY_AFTER.total_seconds()))
    base = RETRY_SCHEDULE[min(attempts, len(RETRY_SCHEDULE)) - 1]
    jitter = random.uniform(0, base.total_seconds() / 10)  # noqa: S311 - spreading, not crypto
    return base + timedelta(seconds=jitter)


def claim(delivery_id, now=None):
    """Take the delivery for this worker; None if it is not due, held, or its receiver is off."""
    ours = WebhookDelivery.objects.filter(pk=delivery_id, subscription__is_active=True)
    if not outbox.claim(ours, now or timezone.now(), LEASE):
        return None
    return WebhookDelivery.objects.select_related("subscription").get(pk=delivery_id)


def deliver(delivery_id):
    """Claim, send, record. Returns the delivery's new state, or None if not claimed (or if
    another worker took the row over while this one was sending)."""
    delivery = claim(delivery_id)
    if delivery is None:
        return None
    started = timezone.now()
    clock = time.monotonic()
    try:
        status, excerpt = send(delivery.subscription, delivery.message_id, body_bytes(delivery))
    except SendFailed as exc:
        return _record_failure(delivery, exc, started, clock)
    except Exception as exc:
        # One bad row must not crash-loop the workers: log it and retry it later.
        logger.exception("webhook delivery %s crashed", delivery.pk)
        failure = SendFailed(f"Unexpected error: {type(exc).__name__}")
        return _record_failure(delivery, failure, started, clock)
    return _record_success(delivery, status, excerpt, started, clock)


def _duration_ms(clock):
    return int((time.monotonic() - clock) * 1000)


def _log_attempt(delivery, started, clock, outcome, status_code=None, excerpt="", error=""):
    WebhookAttempt.objects.create(
        delivery=delivery,
        number=WebhookAttempt.objects.filter(delivery=delivery).count() + 1,
        started_at=started,
        duration_ms=_duration_ms(clock),
        status_code=status_code,
        outcome=outcome,
        response_excerpt=excerpt,
        error=error[:2000],
    )


@transaction.atomic
def _record_success(delivery, status, excerpt, started, clock):
    now = timezone.now()
    held = outbox.still_held(delivery)
    _log_attempt(delivery, started, clock, WebhookAttempt.Outcome.SUCCESS, status, excerpt)
    if not held:
        return None
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        state=State.DELIVERED,
        lease_until=None,
        delivered_at=now,
        last_status_code=status,
        last_error="",
        modified_at=now,
    )
    # Only write the subscription when its health changes (or once a minute), not per delivery.
    subscription = delivery.subscription
    if (
        subscription.consecutive_failures
        or subscription.failing_since
        or subscription.last_success_at is None
        or now - subscription.last_success_at > timedelta(minutes=1)
    ):
        WebhookSubscription.objects.filter(pk=subscription.pk).update(
            consecutive_failures=0, failing_since=None, last_success_at=now
        )
    return State.DELIVERED


@transaction.atomic
def _record_failure(delivery, exc, started, clock):
    now = timezone.now()
    final = exc.gone or delivery.attempts >= MAX_ATTEMPTS
    outcome = WebhookAttempt.Outcome.FAILED if final else WebhookAttempt.Outcome.RETRY
    held = outbox.still_held(delivery)
    _log_attempt(delivery, started, clock, outcome, exc.status_code, exc.excerpt, str(exc))
    if not held:
        return None
    changes = {
        "lease_until": None,
        "last_status_code": exc.status_code,
        "last_error": str(exc)[:2000],
        "modified_at": now,
    }
    if final:
        changes["state"] = State.FAILED
    else:
        changes["state"] = State.PENDING
        changes["next_attempt_at"] = now + next_wait(delivery.attempts, exc.retry_after)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(**changes)

    WebhookSubscription.objects.filter(pk=delivery.subscription_id).update(
        consecutive_failures=F("consecutive_failures") + 1, last_error=str(exc)[:2000]
    )
    WebhookSubscription.objects.filter(
        pk=delivery.subscription_id, failing_since__isnull=True
    ).update(failing_since=now)
    subscription = WebhookSubscription.objects.get(pk=delivery.subscription_id)
    if exc.gone:
        _disable(subscription, str(exc))
    elif subscription.is_active and _failed_too_long(subscription, now):
        _disable(
            subscription,
            _("Every delivery has failed since %(since)s (%(count)s attempts in a row).")
            % {
                "since": subscription.failing_since.strftime("%Y-%m-%d %H:%M UTC"),
                "count": subscription.consecutive_failures,
            },
        )
    return changes["state"]


def _failed_too_long(subscription, now):
    return (
        subscription.failing_since is not None
        and now - subscription.failing_since
        >= timedelta(hours=settings.WEBHOOK_DISABLE_AFTER_HOURS)
        and subscription.consecutive_failures >= settings.WEBHOOK_DISABLE_AFTER_FAILURES
    )


def _disable(subscription, reason):
    updated = WebhookSubscription.objects.filter(pk=subscription.pk, is_active=True).update(
        is_active=False, disabled_at=timezone.now(), disabled_reason=reason[:255]
    )
    if updated:
        logger.warning("webhook subscription %s disabled: %s", subscription.pk, reason)
        transaction.on_commit(lambda: notices.subscription_disabled(subscription.pk))


# --- waking workers -------------------------------------------------------------------------


def queue(delivery_ids):
    """Wake workers for these deliveries. Broker errors are logged: the sweep sends them anyway."""

    def send():
        for delivery_id in delivery_ids:
            broker.send_task(DELIVER_TASK, delivery_id, retry=False)

    return broker.publish(send, f"{len(delivery_ids)} webhook deliveries")


def sweep(now=None):
    """Beat, every 15 s: queue deliveries that are due, or whose worker died holding the lease."""
    active = WebhookDelivery.objects.filter(subscription__is_active=True)
    due = outbox.due(active, now or timezone.now(), limit=1000)
    queue(due)
    return due
