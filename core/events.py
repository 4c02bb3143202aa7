"""Recording events (incident created/updated/resolved, feed failing, ...) in bulk."""

from django.conf import settings
from django.db import transaction

from core import broker
from core.models import Event


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


def record(events):
    """Save built events in one statement; call inside the transaction of the change.

    Once the transaction commits, a worker fans them out to webhook subscriptions; if that
    message is lost, the integrations sweep picks the events up within 15 s.
    """
    saved = Event.objects.bulk_create(list(events), batch_size=500)
    if saved:
        transaction.on_commit(wake_fan_out)
    return saved


def wake_fan_out():
    from celery import current_app

    return broker.publish(
        lambda: current_app.send_task("integrations.tasks.fan_out_events", retry=False),
        "the webhook fan-out",
    )


def absolute_url(path):
    """``path`` on the portal's public address (``PORTAL_BASE_URL``), for events and webhooks."""
    return f"{settings.PORTAL_BASE_URL}{path}"


def api_context():
    """Serializer context for rendering an object as the API would, outside a request."""
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    scheme, _sep, host = settings.PORTAL_BASE_URL.partition("://")
    request = APIRequestFactory().get("/", secure=scheme == "https")
    # The configured address is trusted as is, whatever ALLOWED_HOSTS says (workers have no Host).
    request.get_host = lambda: host
    return {"request": Request(request)}
