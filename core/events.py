"""Recording events (incident created/updated/resolved, feed failing, ...) in bulk."""

from types import MappingProxyType

from django.conf import settings
from django.db import transaction
from django.utils.encoding import iri_to_uri

from core import broker
from core.models import Event

# The task that turns events into webhook deliveries (integrations.tasks); queued by name, as
# integrations builds on core.
FAN_OUT_TASK = "integrations.tasks.fan_out_events"
# The message that wakes it, for a caller that sends it with its own (``broker.publish_tasks``).
FAN_OUT_MESSAGE = (FAN_OUT_TASK, ())


def build(
    *,
    type,
    summary,
    object_type,
    object_id,
    consolidation_key,
    tenant_id=None,
    object_url="",
    payload=None,
    occurred_at=None,
):
    event = Event(
        type=type,
        summary=summary[:255],
        object_type=object_type,
        object_id=str(object_id),
        consolidation_key=consolidation_key,
        tenant_id=tenant_id,
        object_url=object_url,
        payload=payload or {},
    )
    if occurred_at is not None:
        event.occurred_at = occurred_at
    return event


def record(events, *, wake=True):
    """Save built events in one statement; call inside the transaction of the change.

    Once the transaction commits, a worker fans them out to webhook subscriptions; if that
    message is lost, the integrations sweep picks the events up within 15 s. ``wake=False``: the
    caller queues ``FAN_OUT_MESSAGE`` itself after commit, together with its own messages.
    """
    saved = Event.objects.bulk_create(list(events), batch_size=500)
    if saved and wake:
        transaction.on_commit(wake_fan_out)
    return saved


def wake_fan_out():
    return broker.publish_tasks([FAN_OUT_MESSAGE], "the webhook fan-out")


def absolute_url(path):
    """``path`` on the portal's public address (``PORTAL_BASE_URL``), for events and webhooks."""
    return f"{settings.PORTAL_BASE_URL}{path}"


class PortalAddress:
    """What DRF's hyperlinked fields ask of the context's ``request``, answered outside a request.

    They build absolute URLs with ``build_absolute_uri`` and carry a ``?format=`` over from
    ``GET``. The configured address is used as is: workers have no request, hence no Host.
    """

    GET = MappingProxyType({})

    def build_absolute_uri(self, location):
        # Quoted as Django's request quotes it, so payloads match what the API returns.
        return iri_to_uri(absolute_url(location))


def api_context():
    """Serializer context for rendering an object as the API would, outside a request."""
    return {"request": PortalAddress()}
