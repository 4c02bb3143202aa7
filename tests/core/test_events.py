import uuid

from django.urls import reverse

from core import events
from core.models import EventTypeChoices
from tests.customers.factories import CustomerFactory


def test_the_events_page_lists_events_with_their_customer(client_for, cast):
    customer = CustomerFactory(company_name="Fabrikam")
    events.record(
        [
            events.build(
                type=EventTypeChoices.INCIDENT_CREATED,
                summary="EX1: Mail delayed",
                object_type="incident",
                object_id="EX1",
                consolidation_key=f"incident:EX1:{customer.tenant_id}",
                tenant_id=customer.tenant_id,
            ),
            events.build(
                type=EventTypeChoices.FEED_FAILING,
                summary="Contoso feed: 403",
                object_type="feed_source",
                object_id="1",
                consolidation_key=f"feed:{uuid.uuid4()}",
            ),
        ]
    )
    page = client_for("helpdesk_agent").get(reverse("core:events")).content.decode()
    assert "Fabrikam" in page and "EX1: Mail delayed" in page and "Contoso feed: 403" in page
    filtered = client_for("helpdesk_agent").get(reverse("core:events"), {"type": "feed.failing"})
    assert [event.type for event, _customer in filtered.context["rows"]] == ["feed.failing"]


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
