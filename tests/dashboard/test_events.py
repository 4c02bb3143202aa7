import uuid

from django.urls import reverse

from core import events
from core.models import EventTypeChoices
from tests.customers.factories import CustomerFactory
from tests.integrations.helpers import incident_event


def test_the_events_page_lists_events_with_their_customer(client_for, cast):
    customer = CustomerFactory(company_name="Fabrikam")
    events.record(
        [
            incident_event(customer, microsoft_id="EX1"),
            events.build(
                type=EventTypeChoices.FEED_FAILING,
                summary="Contoso feed: 403",
                object_type="feed_source",
                object_id="1",
                consolidation_key=f"feed:{uuid.uuid4()}",
            ),
        ]
    )
    page = client_for("helpdesk_agent").get(reverse("dashboard:events")).content.decode()
    assert "Fabrikam" in page and "Contoso feed: 403" in page
    assert "EX1: Exchange Online mail delays" in page
    filtered = client_for("helpdesk_agent").get(
        reverse("dashboard:events"), {"type": "feed.failing"}
    )
    assert [event.type for event, _customer in filtered.context["rows"]] == ["feed.failing"]


def test_the_events_page_filters_and_links_the_request_customer_and_access_events(client_for, cast):
    customer = CustomerFactory(company_name="Northwind")
    tenant = customer.tenant_id
    kinds = {
        EventTypeChoices.SERVICE_REQUEST_CREATED: ("service_request", "SR-000042"),
        EventTypeChoices.SERVICE_REQUEST_STATUS_CHANGED: ("service_request", "SR-000042"),
        EventTypeChoices.CUSTOMER_UPDATED: ("customer", str(tenant)),
        EventTypeChoices.GDAP_EXPIRING: ("gdap_relationship", f"{uuid.uuid4()}-{tenant}"),
    }
    events.record(
        events.build(
            type=type_,
            summary=f"{type_} summary",
            object_type=object_type,
            object_id=object_id,
            consolidation_key=f"{object_type}:{object_id}",
            tenant_id=tenant,
        )
        for type_, (object_type, object_id) in kinds.items()
    )
    client = client_for("helpdesk_agent")
    page = client.get(reverse("dashboard:events")).content.decode()
    for type_ in kinds:
        assert f'<option value="{type_}"' in page
    assert f'href="{reverse("servicerequests:detail", args=["SR-000042"])}"' in page
    assert f'<a href="{customer.get_absolute_url()}">customer.updated summary</a>' in page
    filtered = client.get(reverse("dashboard:events"), {"type": "gdap.expiring"})
    assert [(event.type, row_customer) for event, row_customer in filtered.context["rows"]] == [
        ("gdap.expiring", customer)
    ]
