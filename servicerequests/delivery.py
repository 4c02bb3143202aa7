"""Delivering service requests to their channel through the outbox (``Delivery`` rows).

``core.outbox.Outbox`` runs the cycle: a worker claims a delivery under a lease, sends it with the
delivery's idempotency key, and records the attempt. Transient failures retry with exponential
backoff and jitter (``next_attempt_at``, picked up by the sweep; never a long Celery countdown);
permanent ones, and the last of ``max_attempts``, go to the dead letter (``failed``): the request
shows *delivery failed* with a timeline entry, and a permanent error flags the channel. A worker
killed between claim and record leaves the row in ``sending`` until the lease runs out; the sweep
then hands it to another worker, which sends it again with the same key, so a channel that
honours the key never creates a second ticket.
"""

from datetime import timedelta

from django.conf import settings
from django.utils.translation import gettext_noop

from core import outbox
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

# The task that runs ``deliver`` (servicerequests.tasks); queued by name: tasks imports this module.
DELIVER_TASK = "servicerequests.tasks.deliver"
State = DeliveryStateChoices
ATTEMPT_OUTCOMES = {
    outbox.Outcome.SUCCESS: DeliveryAttempt.Outcome.SUCCESS,
    outbox.Outcome.RETRY: DeliveryAttempt.Outcome.TRANSIENT,
    outbox.Outcome.DEAD_LETTER: DeliveryAttempt.Outcome.PERMANENT,
}


class EscalationOutbox(outbox.Outbox):
    model = Delivery
    task_name = DELIVER_TASK
    # How long a worker may hold a delivery; a worker killed mid-send frees it after this.
    lease = timedelta(seconds=settings.DELIVERY_LEASE_SECONDS)
    # 5 s, 10 s, 20 s, … up to 30 min, plus up to half as much again; 8 attempts in all.
    retry = outbox.ExponentialRetry(
        max_attempts=8,
        max_retry_after=timedelta(minutes=30),
        jitter=0.5,
        first=timedelta(seconds=5),
        longest=timedelta(minutes=30),
    )
    failure_types = (ChannelError,)
    related = (
        "channel",
        "service_request__customer",
        "service_request__support_topic",
        "service_request__incident",
    )

    def send(self, row):
        return row.channel.adapter().send(row)

    def classify(self, exc):
        return outbox.Failure(
            str(exc),
            permanent=exc.permanent,
            retry_after=exc.retry_after,
            status_code=exc.status_code,
            cause=exc,
        )

    def log_attempt(self, row, attempt):
        failure = attempt.failure
        DeliveryAttempt.objects.create(
            delivery=row,
            number=attempt.number,
            started_at=attempt.started_at,
            duration_ms=attempt.duration_ms,
            outcome=ATTEMPT_OUTCOMES[attempt.outcome],
            status_code=failure.status_code if failure else attempt.result.status_code,
            error=failure.message[: outbox.ERROR_LENGTH] if failure else "",
        )

    def success_changes(self, row, result, now):
        if result.needs_agent:
            return {"state": State.MANUAL}
        return {"state": State.DELIVERED, "delivered_at": now}

    def delivered(self, row, result, now):
        service_request = row.service_request
        if result.needs_agent:
            TimelineEntry.write(
                service_request,
                TimelineKindChoices.ATTEMPT,
                gettext_noop(
                    "Waiting for an agent to file it in Microsoft's portal and record the "
                    "reference."
                ),
            )
            return
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
            gettext_noop(
                "Delivered to %(channel)s (attempt %(attempt)s); reference %(reference)s."
            ),
            {
                "channel": str(row.channel),
                "attempt": row.attempts,
                "reference": result.reference or "—",
            },
            data={"reference": result.reference, "attempt": row.attempts},
        )

    def retrying(self, row, failure, wait, now):
        TimelineEntry.write(
            row.service_request,
            TimelineKindChoices.ATTEMPT,
            gettext_noop("Attempt %(attempt)s failed: %(error)s Next try in %(seconds)s s."),
            {
                "attempt": row.attempts,
                "error": failure.message,
                "seconds": int(wait.total_seconds()),
            },
        )

    def dead_lettered(self, row, failure, now):
        service_request = row.service_request
        if ServiceRequest.objects.filter(
            pk=service_request.pk, status=StatusChoices.PENDING_DELIVERY
        ).update(status=StatusChoices.DELIVERY_FAILED, modified_at=now):
            record_status_event(service_request.pk, StatusChoices.PENDING_DELIVERY)
        if failure.permanent:
            # modified_at: API clients syncing channels learn that it needs attention.
            Channel.objects.filter(pk=row.channel_id).update(
                needs_attention=True,
                last_error=failure.message[: outbox.ERROR_LENGTH],
                last_error_at=now,
                modified_at=now,
            )
        TimelineEntry.write(
            service_request,
            TimelineKindChoices.DELIVERY_FAILED,
            gettext_noop("Delivery failed for good after %(attempts)s attempts: %(error)s"),
            {"attempts": row.attempts, "error": failure.message},
        )


OUTBOX = EscalationOutbox()
LEASE = OUTBOX.lease
claim = OUTBOX.claim
deliver = OUTBOX.deliver
sweep = OUTBOX.sweep
redeliver = OUTBOX.redeliver


def queue(delivery_id):
    """Wake a worker. A broker error is logged, not raised: the sweep delivers the row anyway."""
    return OUTBOX.queue([delivery_id])
