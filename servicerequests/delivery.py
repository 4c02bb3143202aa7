"""Delivering service requests to their channel through the outbox (``Delivery`` rows).

The worker claims a delivery with a conditional UPDATE and a lease, sends it with the delivery's
idempotency key, and records the attempt. Transient failures retry with exponential backoff and
jitter (``next_attempt_at``, picked up by the sweep; never a long Celery countdown); permanent
ones stop and flag the channel. A worker killed between claim and record leaves the row in
``sending`` until the lease runs out; the sweep then hands it to another worker, which sends it
again with the same key, so a channel that honours the key never creates a second ticket.
"""

import logging
import random
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from core import broker, outbox
from servicerequests.channels.base import ChannelError
from servicerequests.events import record_status_event
from servicerequests.models import (
    Channel,
    Delivery,
    DeliveryAttempt,
    DeliveryStateChoices,
    ServiceRequest,
    StatusChoices,
    TimelineEntry,
    TimelineKindChoices,
)

logger = logging.getLogger(__name__)

State = DeliveryStateChoices
# How long a worker may hold a delivery; a worker killed mid-send frees it after this.
LEASE = timedelta(seconds=settings.DELIVERY_LEASE_SECONDS)
MAX_ATTEMPTS = 8
MAX_BACKOFF = timedelta(minutes=30)
# The task that runs ``deliver`` (servicerequests.tasks); queued by name: tasks imports this module.
DELIVER_TASK = "servicerequests.tasks.deliver"


def backoff(attempts, retry_after=None):
    if retry_after is not None:
        return timedelta(seconds=min(retry_after, MAX_BACKOFF.total_seconds()))
    base = min(5 * 2 ** (attempts - 1), MAX_BACKOFF.total_seconds())
    jitter = random.uniform(0, base / 2)  # noqa: S311 - spreading retries, not cryptography
    return timedelta(seconds=base + jitter)


def claim(delivery_id, now=None):
    """Take the delivery for this worker; None if it is not due or another worker holds it."""
    if not outbox.claim(Delivery.objects.filter(pk=delivery_id), now or timezone.now(), LEASE):
        return None
    return Delivery.objects.select_related(
        "channel",
        "service_request__customer",
        "service_request__support_topic",
        "service_request__incident",
    ).get(pk=delivery_id)


def deliver(delivery_id):
    """Claim, send, record. Returns the delivery's new state, or None if not claimed (or if
    another worker took the row over while this one was sending)."""
    delivery = claim(delivery_id)
    if delivery is None:
        return None
    started = timezone.now()
    clock = time.monotonic()
    try:
        result = delivery.channel.adapter().send(delivery)
    except ChannelError as exc:
        return _record_failure(delivery, exc, started, clock)
    except Exception as exc:
        # Unexpected: push the next attempt forward so one bad row cannot crash-loop workers.
        logger.exception("delivery %s crashed", delivery.pk)
        return _record_failure(
            delivery, ChannelError(f"Unexpected error: {type(exc).__name__}"), started, clock
        )
    return _record_success(delivery, result, started, clock)


def _next_attempt_number(delivery):
    # Counted from the log: an admin's retry restarts ``attempts`` but not the numbering.
    return DeliveryAttempt.objects.filter(delivery=delivery).count() + 1


def _duration_ms(clock):
    return int((time.monotonic() - clock) * 1000)


@transaction.atomic
def _record_success(delivery, result, started, clock):
    now = timezone.now()
    service_request = delivery.service_request
    held = outbox.still_held(delivery)
    DeliveryAttempt.objects.create(
        delivery=delivery,
        number=_next_attempt_number(delivery),
        started_at=started,
        duration_ms=_duration_ms(clock),
        outcome=DeliveryAttempt.Outcome.SUCCESS,
        status_code=result.status_code,
    )
    if not held:
        return None
    if result.needs_agent:
        Delivery.objects.filter(pk=delivery.pk).update(
            state=State.MANUAL, lease_until=None, last_error=""
        )
        TimelineEntry.write(
            service_request,
            TimelineKindChoices.ATTEMPT,
            gettext_noop(
                "Waiting for an agent to file it in Microsoft's portal and record the reference."
            ),
        )
        return State.MANUAL
    Delivery.objects.filter(pk=delivery.pk).update(
        state=State.DELIVERED, lease_until=None, delivered_at=now, last_error=""
    )
    # Locked and read first: the status event names the status it replaced.
    previous_status = (
        ServiceRequest.objects.select_for_update()
        .values_list("status", flat=True)
        .get(pk=service_request.pk)
    )
    ServiceRequest.objects.filter(pk=service_request.pk).update(
        channel_reference=result.reference[:100], modified_at=now
    )
    # Delivered means open, unless an agent has closed it meanwhile.
    if ServiceRequest.objects.filter(
        pk=service_request.pk,
        status__in=[StatusChoices.PENDING_DELIVERY, StatusChoices.DELIVERY_FAILED],
    ).update(status=StatusChoices.OPEN):
        record_status_event(service_request.pk, previous_status)
    TimelineEntry.write(
        service_request,
        TimelineKindChoices.DELIVERED,
        gettext_noop("Delivered to %(channel)s (attempt %(attempt)s); reference %(reference)s."),
        {
            "channel": str(delivery.channel),
            "attempt": delivery.attempts,
            "reference": result.reference or "—",
        },
        data={"reference": result.reference, "attempt": delivery.attempts},
    )
    return State.DELIVERED


@transaction.atomic
def _record_failure(delivery, exc, started, clock):
    now = timezone.now()
    service_request = delivery.service_request
    final = exc.permanent or delivery.attempts >= MAX_ATTEMPTS
    held = outbox.still_held(delivery)
    DeliveryAttempt.objects.create(
        delivery=delivery,
        number=_next_attempt_number(delivery),
        started_at=started,
        duration_ms=_duration_ms(clock),
        outcome=DeliveryAttempt.Outcome.PERMANENT if final else DeliveryAttempt.Outcome.TRANSIENT,
        status_code=exc.status_code,
        error=str(exc)[:2000],
    )
    if not held:
        return None
    if final:
        Delivery.objects.filter(pk=delivery.pk).update(
            state=State.FAILED, lease_until=None, last_error=str(exc)[:2000]
        )
        if ServiceRequest.objects.filter(
            pk=service_request.pk, status=StatusChoices.PENDING_DELIVERY
        ).update(status=StatusChoices.DELIVERY_FAILED, modified_at=now):
            record_status_event(service_request.pk, StatusChoices.PENDING_DELIVERY)
        if exc.permanent:
            # modified_at: API clients syncing channels learn that it needs attention.
            Channel.objects.filter(pk=delivery.channel_id).update(
                needs_attention=True, last_error=str(exc)[:2000], last_error_at=now, modified_at=now
            )
        TimelineEntry.write(
            service_request,
            TimelineKindChoices.DELIVERY_FAILED,
            gettext_noop("Delivery failed for good after %(attempts)s attempts: %(error)s"),
            {"attempts": delivery.attempts, "error": str(exc)},
        )
        return State.FAILED
    wait = backoff(delivery.attempts, exc.retry_after)
    Delivery.objects.filter(pk=delivery.pk).update(
        state=State.PENDING,
        lease_until=None,
        next_attempt_at=now + wait,
        last_error=str(exc)[:2000],
    )
    TimelineEntry.write(
        service_request,
        TimelineKindChoices.ATTEMPT,
        gettext_noop("Attempt %(attempt)s failed: %(error)s Next try in %(seconds)s s."),
        {"attempt": delivery.attempts, "error": str(exc), "seconds": int(wait.total_seconds())},
    )
    return State.PENDING


def queue(delivery_id):
    """Wake a worker. A broker error is logged, not raised: the sweep delivers the row anyway."""
    return broker.publish(
        lambda: broker.send_task(DELIVER_TASK, delivery_id, retry=False),
        f"delivery {delivery_id}",
    )


def sweep(now=None):
    """Beat, every 15 s: queue deliveries that are due, or whose worker died holding the lease."""
    due = outbox.due(Delivery.objects.all(), now or timezone.now(), limit=500)
    for delivery_id in due:
        queue(delivery_id)
    return due
