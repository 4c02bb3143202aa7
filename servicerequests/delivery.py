"""Delivering service requests to their channel through the outbox (``Delivery`` rows).

``core.outbox.Outbox`` runs the cycle: a worker claims a delivery under a lease, sends it with the
delivery's idempotency key, and records the attempt. Transient failures retry with exponential
backoff and jitter (``next_attempt_at``, picked up by the sweep; never a long Celery countdown);
permanent ones, and the last of ``max_attempts``, go to the dead letter (``failed``): the request
shows *delivery failed* with a timeline entry, and a permanent error flags the channel. A worker
killed between claim and record leaves the row in ``sending`` until the lease runs out; the sweep
then hands it to another worker, which sends it again with the same key, so a channel that
honours the key never creates a second ticket.

Notes written in the portal on a Partner Center request go the same way (``NoteDelivery`` rows,
claimed once the request has Microsoft's reference). A failure for want of the partner's
Microsoft connection (none, or its token refused) is a dead letter marked
``waiting_for_connection_since``; once the connection is renewed after it, the sweep sends the
row again (``resume_after_connection``).
"""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext_noop

from core import outbox
from microsoft.services import connection_ready, get_connection
from servicerequests.channels.base import ChannelError
from servicerequests.events import record_status_event, record_status_event_for
from servicerequests.models import (
    Channel,
    Delivery,
    DeliveryAttempt,
    DeliveryStateChoices,
    NoteDelivery,
    NoteDeliveryAttempt,
    ServiceRequest,
    StatusChoices,
    TimelineEntry,
    TimelineKindChoices,
)

# The task that runs ``deliver`` (servicerequests.tasks); queued by name: tasks imports this module.
DELIVER_TASK = "servicerequests.tasks.deliver"
DELIVER_NOTE_TASK = "servicerequests.tasks.deliver_note"
State = DeliveryStateChoices
# The channels that take the portal's notes onto the request they hold (``NoteDelivery`` rows).
NOTE_CHANNELS = {"partner_center"}
ATTEMPT_OUTCOMES = {
    outbox.Outcome.SUCCESS: DeliveryAttempt.Outcome.SUCCESS,
    outbox.Outcome.RETRY: DeliveryAttempt.Outcome.TRANSIENT,
    outbox.Outcome.DEAD_LETTER: DeliveryAttempt.Outcome.PERMANENT,
}


def needs_connection(failure):
    return bool(getattr(failure.cause, "needs_connection", False))


class ChannelOutbox(outbox.Outbox):
    """What a request's delivery and a note's share: sent through the channel's adapter, its
    ``ChannelError``s classified, attempts logged, and a failure for want of the Microsoft
    connection marked so that the row is sent again once it is renewed."""

    attempt_model = None
    # How long a worker may hold a row; a worker killed mid-send frees it after this.
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
        self.attempt_model.objects.create(
            delivery=row,
            number=attempt.number,
            started_at=attempt.started_at,
            duration_ms=attempt.duration_ms,
            outcome=ATTEMPT_OUTCOMES[attempt.outcome],
            status_code=failure.status_code if failure else attempt.result.status_code,
            error=failure.message[: outbox.ERROR_LENGTH] if failure else "",
        )

    def success_changes(self, row, result, now):
        return {"state": State.DELIVERED, "delivered_at": now, "waiting_for_connection_since": None}

    def failure_changes(self, row, failure, now):
        return {"waiting_for_connection_since": now if needs_connection(failure) else None}

    def flag_channel(self, row, failure, now):
        """A permanent failure of the channel's own (not of the connection's) needs its admin."""
        if not failure.permanent or needs_connection(failure):
            return
        # modified_at: API clients syncing channels learn that it needs attention.
        Channel.objects.filter(pk=row.channel_id).update(
            needs_attention=True,
            last_error=failure.message[: outbox.ERROR_LENGTH],
            last_error_at=now,
            modified_at=now,
        )

    def waiting_for_connection(self):
        """Dead letters that only wanted the connection, once it was renewed after them."""
        if not connection_ready():
            return self.model.objects.none()
        renewed = get_connection().last_redeemed_at
        if renewed is None:
            return self.model.objects.none()
        return self.model.objects.filter(
            state=outbox.DEAD_LETTER, waiting_for_connection_since__lt=renewed
        )


def with_claimed_relations(locked, row):
    """``locked``, the request of the claimed delivery ``row`` read again, given the related rows
    the claim read with it (where it still points at them) and ``row`` as its delivery."""
    claimed = row.service_request
    for name in ("customer", "support_topic", "incident"):
        if getattr(locked, f"{name}_id") == getattr(claimed, f"{name}_id"):
            setattr(locked, name, getattr(claimed, name))
    if locked.channel_id == row.channel_id:
        locked.channel = row.channel
    locked.delivery = row
    return locked


class EscalationOutbox(ChannelOutbox):
    model = Delivery
    attempt_model = DeliveryAttempt
    task_name = DELIVER_TASK
    # What every channel reads. The incident (which few requests have) and the creator (which
    # only Partner Center reads) are read when used: their two outer joins made PostgreSQL's
    # planning of this read, which comes before every send, take 2-3 times as long.
    related = ("channel", "service_request__customer", "service_request__support_topic")

    def send(self, row):
        return row.channel.adapter().send(row)

    def success_changes(self, row, result, now):
        if result.needs_agent:
            return {"state": State.MANUAL}
        return super().success_changes(row, result, now)

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
        # Locked and read first: the event names the status it replaced, and carries the request
        # as this changes it. Its own row and assignee only (planning the join of everything the
        # event shows cost more than running it): the rest came with the claim.
        service_request = with_claimed_relations(
            ServiceRequest.objects.select_for_update(of=("self",))
            .select_related("assignee")
            .get(pk=service_request.pk),
            row,
        )
        previous_status = service_request.status
        changes = {"channel_reference": result.reference[:100], "modified_at": now}
        # Delivered means open, unless an agent has closed it meanwhile.
        if previous_status in (StatusChoices.PENDING_DELIVERY, StatusChoices.DELIVERY_FAILED):
            changes["status"] = StatusChoices.OPEN
        ServiceRequest.objects.filter(pk=service_request.pk).update(**changes)
        for name, value in changes.items():
            setattr(service_request, name, value)
        if "status" in changes:
            record_status_event_for(service_request, previous_status)
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
        if row.channel.kind not in NOTE_CHANNELS:
            return
        # Notes written while it was on its way can go now.
        waiting_notes = list(
            NoteDelivery.objects.filter(
                note__service_request=service_request, state=State.PENDING
            ).values_list("pk", flat=True)
        )
        if waiting_notes:
            transaction.on_commit(lambda: NOTE_OUTBOX.queue(waiting_notes))

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
        self.flag_channel(row, failure, now)
        if needs_connection(failure):
            template = gettext_noop(
                "Delivery waits for the Microsoft connection: %(error)s It is sent again once "
                "Microsoft is connected."
            )
        elif row.attempts == 1:  # a permanent failure: given up at once
            template = gettext_noop("Delivery failed for good at the first attempt: %(error)s")
        else:
            template = gettext_noop(
                "Delivery failed for good after %(attempts)s attempts: %(error)s"
            )
        TimelineEntry.write(
            service_request,
            TimelineKindChoices.DELIVERY_FAILED,
            template,
            {"attempts": row.attempts, "error": failure.message},
        )


class NoteOutbox(ChannelOutbox):
    """Notes written in the portal, sent to the request Partner Center holds."""

    model = NoteDelivery
    attempt_model = NoteDeliveryAttempt
    task_name = DELIVER_NOTE_TASK
    related = ("channel", "note__author", "note__service_request")

    def claimable(self):
        # Only once the request itself is delivered: the PATCH needs Microsoft's reference.
        return NoteDelivery.objects.exclude(note__service_request__channel_reference="")

    def send(self, row):
        return row.channel.adapter().send_note(row)

    def dead_lettered(self, row, failure, now):
        self.flag_channel(row, failure, now)
        TimelineEntry.write(
            row.note.service_request,
            TimelineKindChoices.DELIVERY_FAILED,
            gettext_noop("A note could not be sent to %(channel)s: %(error)s"),
            {"channel": str(row.channel), "error": failure.message},
        )


OUTBOX = EscalationOutbox()
NOTE_OUTBOX = NoteOutbox()
LEASE = OUTBOX.lease
claim = OUTBOX.claim
deliver = OUTBOX.deliver
deliver_note = NOTE_OUTBOX.deliver
redeliver = OUTBOX.redeliver


def sweep(now=None):
    """Beat, every 15 s: queue the requests and notes that are due (or whose worker died)."""
    return OUTBOX.sweep(now) + NOTE_OUTBOX.sweep(now)


def queue(delivery_id):
    """Wake a worker. A broker error is logged, not raised: the sweep delivers the row anyway."""
    return OUTBOX.queue([delivery_id])


def queue_note(note_delivery_id):
    return NOTE_OUTBOX.queue([note_delivery_id])


def locked_status(service_request_id):
    """The stored status, the row locked until commit (callers hold the delivery row first)."""
    return (
        ServiceRequest.objects.select_for_update()
        .values_list("status", flat=True)
        .get(pk=service_request_id)
    )


@transaction.atomic
def restart(row, template, *, actor=None):
    """Send a dead-lettered delivery again (the same idempotency key): the request is back to
    pending delivery, with ``template`` on its timeline. Returns the ids queued."""
    ids = redeliver(Delivery.objects.filter(pk=row.pk))
    Delivery.objects.filter(pk__in=ids).update(waiting_for_connection_since=None)
    previous_status = locked_status(row.service_request_id)
    ServiceRequest.objects.filter(pk=row.service_request_id).update(
        status=StatusChoices.PENDING_DELIVERY
    )
    if previous_status != StatusChoices.PENDING_DELIVERY:
        record_status_event(row.service_request_id, previous_status)
    TimelineEntry.write(row.service_request, TimelineKindChoices.RETRIED, template, actor=actor)
    return ids


def resume_after_connection():
    """Beat: once the Microsoft connection is renewed, send again what waited for it (requests
    and notes). Returns how many rows were restarted."""
    restarted = 0
    for pk in OUTBOX.waiting_for_connection().values_list("pk", flat=True):
        with transaction.atomic():
            # Locked and read again: an admin may have retried it meanwhile.
            row = (
                OUTBOX.waiting_for_connection()
                .select_for_update()
                .select_related("service_request")
                .filter(pk=pk)
                .first()
            )
            if row is not None:
                message = gettext_noop("Microsoft is connected: delivery retried.")
                restarted += len(restart(row, message))
    with transaction.atomic():
        notes = NOTE_OUTBOX.waiting_for_connection().select_for_update()
        ids = NOTE_OUTBOX.redeliver(notes)
        NoteDelivery.objects.filter(pk__in=ids).update(waiting_for_connection_since=None)
    return restarted + len(ids)
