"""Status back from the channels: Partner Center is polled; webhooks call back, signed.

A callback is signed with the channel's signing secret by Standard Webhooks (``webhook-id``,
``webhook-timestamp``, ``webhook-signature``; ``outbound.signing`` says how the secret becomes a
key). It is refused when the signature is missing or wrong, when the timestamp is more than five
minutes away, or when the same ``webhook-id`` was already accepted (a replay). While
``CHANNEL_LEGACY_SIGNATURE`` is on, a callback carrying only the deprecated
``X-Portal-Signature`` is checked by that scheme instead. Every refusal is logged; none changes
anything.
"""

import json
import logging
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from outbound import signing
from servicerequests import services
from servicerequests.channels.base import ChannelError
from servicerequests.models import CallbackNonce, ServiceRequest, StatusChoices

logger = logging.getLogger(__name__)

CALLBACK_TOLERANCE = timedelta(seconds=signing.TOLERANCE_SECONDS)
CHANNEL_STATUSES = {
    "open": StatusChoices.OPEN,
    "attention_needed": StatusChoices.ATTENTION_NEEDED,
    "closed": StatusChoices.CLOSED,
}
# Channels whose deprecated X-Portal-Signature callbacks were logged (once each per process).
_legacy_logged = set()


class CallbackRejected(Exception):
    pass


def apply_channel_update(service_request, status, notes=(), source=""):
    """Apply what a channel says: a status (its vocabulary) and notes, only what is new."""
    changed = False
    known = set(service_request.notes.filter(from_channel=True).values_list("author_name", "text"))
    # The portal's own notes come back in the channel's list too (under whatever name the
    # channel gives them): they are on the timeline already.
    written_here = set(
        service_request.notes.filter(from_channel=False).values_list("text", flat=True)
    )
    for note in notes:
        key = (note.get("author_name") or "Microsoft", note["text"])
        if key in known or note["text"] in written_here:
            continue
        known.add(key)
        services.add_note(
            service_request,
            text=note["text"],
            author_name=key[0],
            from_channel=True,
            created_at=note.get("created_at"),
        )
        changed = True
    ours = CHANNEL_STATUSES.get(status)
    if ours and ours != service_request.status:
        services.change_status(service_request, ours, source=source)
        changed = True
    return changed


def poll_partner_center_statuses():
    """Beat: ask Partner Center about every open request it holds. Returns how many changed."""
    changed = 0
    open_requests = (
        ServiceRequest.objects.filter(
            channel__kind="partner_center",
            channel__enabled=True,
            status__in=[StatusChoices.OPEN, StatusChoices.ATTENTION_NEEDED],
        )
        .exclude(channel_reference="")
        .select_related("channel")
    )
    for service_request in open_requests:
        try:
            answer = service_request.channel.adapter().fetch_status(service_request)
        except ChannelError as exc:
            logger.warning("status of %s not read: %s", service_request.number, exc)
            continue
        if answer is None:
            continue
        status, notes = answer
        with transaction.atomic():
            if apply_channel_update(service_request, status, notes, source="Partner Center"):
                changed += 1
    return changed


def verify_callback(channel, headers, body, now=None):
    """Raise CallbackRejected unless the signature is valid, fresh and not seen before.

    ``headers``: the request's, a case-insensitive mapping such as ``request.headers``.
    """
    secret = channel.credentials.get("signing_secret", "")
    if not secret:
        raise CallbackRejected("the channel has no signing secret")
    now = now or timezone.now()
    legacy = bool(headers.get(signing.LEGACY_HEADER) and not headers.get(signing.SIGNATURE_HEADER))
    if legacy and not settings.CHANNEL_LEGACY_SIGNATURE:
        raise CallbackRejected("X-Portal-Signature is no longer accepted")
    try:
        if legacy:
            replay_key = signing.legacy_verify([secret], headers[signing.LEGACY_HEADER], body, now)
        else:
            replay_key = signing.verify([secret], headers, body, now)
    except signing.SignatureError as exc:
        raise CallbackRejected(str(exc)) from None
    try:
        with transaction.atomic():
            CallbackNonce.objects.create(channel=channel, message_id=replay_key)
    except IntegrityError:
        raise CallbackRejected("replayed callback") from None
    if legacy and channel.pk not in _legacy_logged:
        _legacy_logged.add(channel.pk)
        logger.warning(
            "channel %s signs its callbacks with the deprecated X-Portal-Signature; "
            "it must move to Standard Webhooks before CHANNEL_LEGACY_SIGNATURE is turned off",
            channel.pk,
        )


TEXT_KEYS = ("status", "note", "author")


def handle_callback(channel, headers, body):
    """Verify and apply one callback. Returns the request it changed."""
    try:
        verify_callback(channel, headers, body)
        payload = json.loads(body)
        reference = str(payload.get("reference") or payload.get("ticket_id") or "")
        number = str(payload.get("number") or "")
    except CallbackRejected as exc:
        logger.warning("callback for channel %s refused: %s", channel.pk, exc)
        raise
    # A nesting deeper than the parser's recursion limit raises RecursionError.
    except (ValueError, AttributeError, RecursionError):
        logger.warning("callback for channel %s refused: body is not a JSON object", channel.pk)
        raise CallbackRejected("the body is not a JSON object") from None
    texts = (reference, number, *(str(payload.get(key) or "") for key in TEXT_KEYS))
    if any("\x00" in text for text in texts):
        # PostgreSQL's text cannot hold NUL: refused here rather than failing the query.
        logger.warning("callback for channel %s refused: the body carries NUL", channel.pk)
        raise CallbackRejected("the body carries a NUL character")
    matches = ServiceRequest.objects.filter(channel=channel)
    service_request = (
        matches.filter(number=number).first()
        if number
        else matches.filter(channel_reference=reference).first()
    )
    if service_request is None or not (number or reference):
        logger.warning("callback for channel %s names no request of it", channel.pk)
        raise CallbackRejected("no such service request on this channel")
    notes = (
        [{"author_name": str(payload.get("author") or channel.name), "text": str(payload["note"])}]
        if payload.get("note")
        else []
    )
    with transaction.atomic():
        apply_channel_update(
            service_request, str(payload.get("status") or ""), notes, source=channel.name
        )
    service_request.refresh_from_db()  # the status was changed on a locked copy
    return service_request


def purge_nonces(now=None):
    """Callbacks older than the window can no longer be replayed: forget them."""
    cutoff = (now or timezone.now()) - CALLBACK_TOLERANCE * 2
    return CallbackNonce.objects.filter(received_at__lt=cutoff).delete()[0]
