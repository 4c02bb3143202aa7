"""Recording events (incident created/updated/resolved, feed failing, ...) in bulk."""

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
    """Save built events in one statement; call inside the transaction of the change."""
    return Event.objects.bulk_create(list(events), batch_size=500)
