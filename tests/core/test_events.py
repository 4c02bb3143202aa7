from core import events
from core.models import EventTypeChoices


def test_events_have_stable_unique_ids(db):
    built = [
        events.build(
            type=EventTypeChoices.INCIDENT_UPDATED,
            summary="x",
            object_type="incident",
            object_id="EX2",
            consolidation_key="incident:EX2:t",
        )
        for _ in range(3)
    ]
    saved = events.record(built)
    assert len({event.event_id for event in saved}) == 3
