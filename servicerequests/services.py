"""Opening and working on service requests. Each change lands on the request's timeline and the
audit log in the same transaction; the delivery (outbox) row is written with the request."""

import logging

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from core import audit, broker, events
from core.models import EventTypeChoices
from servicerequests import delivery, routing
from servicerequests.choices import RESPONSE_TARGETS
from servicerequests.events import record_status_event, request_event
from servicerequests.models import (
    Delivery,
    DeliveryStateChoices,
    NoteDelivery,
    ServiceRequest,
    ServiceRequestNote,
    StatusChoices,
    TimelineEntry,
    TimelineKindChoices,
    english,
)

logger = logging.getLogger(__name__)

SNAPSHOT_FIELDS = ("title", "severity", "status", "category", "channel_reference", "assignee_id")


# A delivery still on its way: closing now would race the worker that reopens it on success.
IN_FLIGHT = {DeliveryStateChoices.PENDING, DeliveryStateChoices.SENDING}


def reopen_status(delivery):
    """The status a closed request reopens to: where its delivery stands."""
    if delivery is None or delivery.state == DeliveryStateChoices.DELIVERED:
        return StatusChoices.OPEN
    if delivery.state == DeliveryStateChoices.FAILED:
        return StatusChoices.DELIVERY_FAILED
    return StatusChoices.PENDING_DELIVERY


def _snapshot(service_request):
    return {field: getattr(service_request, field) for field in SNAPSHOT_FIELDS}


def _audit_change(service_request, action, before, *, actor, request):
    """An agent's change in the audit log: the request as it was (``before``) and as it is now."""
    audit.record(
        actor=actor,
        action=action,
        target=service_request,
        before=before,
        after=_snapshot(service_request),
        request=request,
    )


# What Microsoft's support engineers need to act on a request without coming back to ask.
MIN_TITLE = 5  # the message below names the number
MIN_DESCRIPTION = 20


def clean_title(value):
    """The title with its whitespace collapsed; too short a one is a field error (form and API)."""
    title = " ".join(value.split())
    if len(title) < MIN_TITLE:
        raise ValidationError(_("Give the request a title of at least 5 characters."))
    return title


def clean_description(value):
    description = value.strip()
    if len(description) < MIN_DESCRIPTION:
        raise ValidationError(
            _("Describe the problem in at least %(count)s characters.") % {"count": MIN_DESCRIPTION}
        )
    return description


class NoRoute(Exception):
    pass


# What a new request is given as rows already read (by the form or serializer that validated
# them, by routing, or the caller itself): full_clean's existence check would read each again.
GIVEN_RELATIONS = ("support_topic", "customer", "channel", "incident", "assignee", "created_by")


def open_service_request(*, actor, request=None, **fields):
    """Create the request, route it, write its delivery row; queue the delivery after commit.

    Routed and validated first, writing nothing; ``NoRoute`` and ``ValidationError`` come from
    there. The writes then share the caller's transaction when there is one, without a savepoint
    of their own: nothing in them is caught and recovered from, so a failure rolls it all back.
    The request returned has ``opened_event``, the event recorded: its payload is the request as
    the API shows it."""
    now = timezone.now()
    service_request = ServiceRequest(
        created_by=actor if actor and actor.is_authenticated else None, **fields
    )
    if not service_request.category:
        service_request.category = service_request.support_topic.category
    service_request.response_due_at = now + RESPONSE_TARGETS[service_request.severity]
    decision = routing.route_request(service_request)
    if decision.channel is None:
        raise NoRoute(decision.explanation)
    service_request.channel = decision.channel
    service_request.full_clean(exclude=["number", *GIVEN_RELATIONS])
    with transaction.atomic(savepoint=False):
        _write_opened(service_request, decision, actor=actor, request=request)
    return service_request


def _write_opened(service_request, decision, *, actor, request):
    """The new request's rows: itself, its delivery (outbox) row, timeline, audit entry, event."""
    service_request.save()
    service_request.number = f"SR-{service_request.pk:06d}"
    ServiceRequest.objects.filter(pk=service_request.pk).update(number=service_request.number)
    # Built with the request, so it is the request's ``delivery`` too (no query to read it).
    outbox = Delivery.objects.create(service_request=service_request, channel=decision.channel)
    # The committed rows are the record; the messages only wake workers (the sweeps are the net).
    # The delivery's first, then the event's, in one batch: one round trip to the broker.
    messages = [delivery.OUTBOX.message(outbox.pk), events.FAN_OUT_MESSAGE]
    transaction.on_commit(
        lambda: broker.publish_tasks(messages, "a new service request's delivery and event")
    )
    TimelineEntry.objects.bulk_create(
        [
            TimelineEntry.build(
                service_request, TimelineKindChoices.CREATED, gettext_noop("Opened."), actor=actor
            ),
            TimelineEntry.build(
                service_request,
                TimelineKindChoices.ROUTED,
                *decision.explanation_message,
                data={
                    "channel": decision.channel.pk,
                    "rule": decision.rule.pk if decision.rule else None,
                },
            ),
        ]
    )
    audit.record(
        actor=actor,
        action="servicerequest.created",
        target=service_request,
        after=_snapshot(service_request),
        request=request,
    )
    # The request as it stands in memory is what was just written: no need to read it back.
    event = request_event(
        EventTypeChoices.SERVICE_REQUEST_CREATED,
        service_request,
        lambda opened: f"{opened.number}: {opened.title}",
    )
    events.record([event], wake=False)  # woken with the delivery, above
    # Its payload is the API's answer too, but for the link (rendered once: ``on_address``).
    service_request.opened_event = event


@transaction.atomic
def add_note(
    service_request,
    *,
    text,
    actor=None,
    author_name="",
    from_channel=False,
    created_at=None,
    request=None,
):
    note = ServiceRequestNote.objects.create(
        service_request=service_request,
        author=actor if actor is not None and actor.is_authenticated else None,
        author_name=author_name
        or (actor.get_full_name() if actor is not None and actor.is_authenticated else ""),
        text=text,
        from_channel=from_channel,
        created_at=created_at or timezone.now(),
    )
    TimelineEntry.write(
        service_request,
        TimelineKindChoices.NOTE,
        text,
        actor=actor,
        actor_name=note.author_name,
        translate=False,
    )
    channel = service_request.channel
    if not from_channel and channel is not None and channel.kind in delivery.NOTE_CHANNELS:
        # Through the outbox: the note reaches Microsoft even if a worker dies on the way.
        outbox = NoteDelivery.objects.create(note=note, channel=channel)
        transaction.on_commit(lambda: delivery.queue_note(outbox.pk))
    if from_channel and service_request.first_response_at is None:
        ServiceRequest.objects.filter(pk=service_request.pk).update(
            first_response_at=note.created_at
        )
    ServiceRequest.objects.filter(pk=service_request.pk).update(modified_at=timezone.now())
    if actor is not None:
        audit.record(
            actor=actor, action="servicerequest.note_added", target=service_request, request=request
        )
    return note


@transaction.atomic
def change_status(service_request, status, *, actor=None, source="", request=None):
    service_request = ServiceRequest.objects.select_for_update().get(pk=service_request.pk)
    if service_request.status == status:
        return service_request
    before = _snapshot(service_request)
    previous_status = service_request.status
    previous = english(StatusChoices(service_request.status))
    service_request.status = status
    now = timezone.now()
    service_request.closed_at = now if status == StatusChoices.CLOSED else None
    if source and service_request.first_response_at is None:
        # Microsoft moving the request is its first response.
        service_request.first_response_at = now
    service_request.save()
    params = {"previous": previous, "status": english(StatusChoices(status))}
    if source:
        template = gettext_noop("Status: %(previous)s → %(status)s (%(source)s)")
        params["source"] = source
    else:
        template = gettext_noop("Status: %(previous)s → %(status)s")
    TimelineEntry.write(
        service_request, TimelineKindChoices.STATUS_CHANGED, template, params, actor=actor
    )
    _audit_change(
        service_request, "servicerequest.status_changed", before, actor=actor, request=request
    )
    record_status_event(service_request.pk, previous_status)
    return service_request


@transaction.atomic
def assign(service_request, assignee, *, actor, request=None):
    service_request = ServiceRequest.objects.select_for_update().get(pk=service_request.pk)
    before = _snapshot(service_request)
    service_request.assignee = assignee
    service_request.save(update_fields=["assignee", "modified_at"])
    if assignee:
        template, params = gettext_noop("Assigned to %(name)s."), {"name": str(assignee)}
    else:
        template, params = gettext_noop("Unassigned."), {}
    TimelineEntry.write(
        service_request, TimelineKindChoices.ASSIGNED, template, params, actor=actor
    )
    _audit_change(service_request, "servicerequest.assigned", before, actor=actor, request=request)


@transaction.atomic
def record_manual_reference(service_request, reference, *, actor, request=None):
    """The agent filed it in Microsoft's portal (manual channel) and records Microsoft's number."""
    outbox = Delivery.objects.select_for_update().get(service_request=service_request)
    if outbox.state != DeliveryStateChoices.MANUAL:
        raise ValidationError(_("Only a request waiting to be filed by hand takes a reference."))
    now = timezone.now()
    outbox.state = DeliveryStateChoices.DELIVERED
    outbox.delivered_at = now
    outbox.save(update_fields=["state", "delivered_at"])
    # The stored status, not the caller's copy: the event must name the status it replaced.
    service_request.status = delivery.locked_status(service_request.pk)
    before = _snapshot(service_request)
    previous_status = service_request.status
    service_request.channel_reference = reference
    if service_request.status in (StatusChoices.PENDING_DELIVERY, StatusChoices.DELIVERY_FAILED):
        service_request.status = StatusChoices.OPEN
    service_request.save(update_fields=["channel_reference", "status", "modified_at"])
    if service_request.status != previous_status:
        record_status_event(service_request.pk, previous_status)
    TimelineEntry.write(
        service_request,
        TimelineKindChoices.DELIVERED,
        gettext_noop("Filed in Microsoft's portal by hand; reference %(reference)s."),
        {"reference": reference},
        actor=actor,
    )
    _audit_change(
        service_request, "servicerequest.reference_recorded", before, actor=actor, request=request
    )


@transaction.atomic
def retry_delivery(service_request, *, actor, request=None):
    """An admin sends a failed delivery again (same idempotency key: no duplicate ticket)."""
    outbox = Delivery.objects.select_for_update().get(service_request=service_request)
    if outbox.state != DeliveryStateChoices.FAILED:
        return outbox
    delivery.restart(outbox, gettext_noop("Delivery retried by an admin."), actor=actor)
    audit.record(
        actor=actor,
        action="servicerequest.delivery_retried",
        target=service_request,
        request=request,
    )
    outbox.refresh_from_db()
    return outbox
