"""servicerequest.created and servicerequest.status_changed: one event per real change, written in
the transaction of the change, carrying the request as the API's detail endpoint shows it."""

import pytest
from django.db import transaction
from django.utils import timezone

from core.models import Event, EventTypeChoices
from servicerequests import channel_updates, delivery, services
from servicerequests.models import Channel, Delivery, ServiceRequest, StatusChoices
from tests.customers.factories import CustomerFactory
from tests.helpers import Boom
from tests.servicerequests.helpers import channel, receiver_channel, topic

CREATED = EventTypeChoices.SERVICE_REQUEST_CREATED
STATUS_CHANGED = EventTypeChoices.SERVICE_REQUEST_STATUS_CHANGED


pytestmark = pytest.mark.usefixtures("portal_at_testserver")


@pytest.fixture
def open_request(db, cast):
    """Open a request routed to ``target`` (a manual channel unless given), as an agent."""

    def make(target=None, **fields):
        target = target or channel(
            "manual",
            endpoint="https://partner.microsoft.com/dashboard/support/servicerequests/create",
        )
        Channel.objects.exclude(pk=target.pk).update(enabled=False)
        values = {
            "title": "Mail flow stopped",
            "description": "Since 09:00 no mail arrives.",
            "severity": "moderate",
            "support_topic": topic(target.category),
            "customer": CustomerFactory(company_name="Fabrikam"),
            "contact_name": "Elif Kaya",
            "contact_email": "elif@customer.example",
            **fields,
        }
        return services.open_service_request(actor=cast["helpdesk_agent"], **values)

    return make


def status_events():
    return list(Event.objects.filter(type=STATUS_CHANGED).order_by("pk"))


def deliver_now(service_request):
    outbox = Delivery.objects.get(service_request=service_request)
    Delivery.objects.filter(pk=outbox.pk).update(next_attempt_at=timezone.now())
    return delivery.deliver(outbox.pk)


def test_opening_a_request_records_it_as_the_api_shows_it(open_request, client_for):
    service_request = open_request()
    event = Event.objects.get()
    assert event.type == CREATED
    assert event.object_type == "service_request"
    assert event.object_id == service_request.number
    assert event.consolidation_key == f"servicerequest:{service_request.number}"
    assert event.tenant_id == service_request.customer.tenant_id
    assert event.summary == f"{service_request.number}: Mail flow stopped"
    detail = f"/api/v1/service-requests/{service_request.number}/"
    assert event.object_url == f"http://testserver{detail}"
    assert event.payload == client_for("helpdesk_agent").get(detail).json()
    assert event.payload["status"] == "pending_delivery"
    assert event.payload["delivery"]["state"] == "pending"


def test_a_request_opened_through_the_api_is_recorded_once(client_for, cast):
    target = channel("manual", endpoint="https://partner.microsoft.com/support")
    Channel.objects.exclude(pk=target.pk).update(enabled=False)
    customer = CustomerFactory()
    response = client_for("helpdesk_agent").post(
        "/api/v1/service-requests/",
        {
            "title": "Teams calls drop",
            "description": "Calls drop after a minute.",
            "severity": "minimal",
            "support_topic": topic().pk,
            "customer": str(customer.tenant_id),
            "primary_contact": {"name": "Ana", "email": "ana@customer.example"},
        },
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    event = Event.objects.get()
    assert (event.type, event.object_id) == (CREATED, response.json()["number"])
    assert event.payload == response.json()


def test_a_status_change_is_recorded_once_and_a_repeat_not_at_all(open_request, client_for):
    service_request = open_request()
    services.change_status(service_request, StatusChoices.CLOSED, actor=None)
    services.change_status(service_request, StatusChoices.CLOSED, actor=None)
    [event] = status_events()
    assert event.summary == f"{service_request.number}: Pending delivery → Closed"
    assert event.consolidation_key == f"servicerequest:{service_request.number}"
    assert event.payload["status"] == "closed"
    assert event.payload == client_for("helpdesk_agent").get(event.object_url).json()


def test_the_api_records_a_status_change_but_not_an_assignment(open_request, client_for, cast):
    service_request = open_request()
    assert deliver_now(service_request) == "manual"  # no longer in flight: it may be closed
    url = f"/api/v1/service-requests/{service_request.number}/"
    client = client_for("helpdesk_agent")
    client.patch(url, {"assignee": cast["admin_agent"].email}, content_type="application/json")
    assert status_events() == []
    for _twice in range(2):
        response = client.patch(url, {"status": "closed"}, content_type="application/json")
        assert response.status_code == 200, response.content
    assert [event.payload["status"] for event in status_events()] == ["closed"]


def test_events_roll_back_with_their_change(open_request):
    with pytest.raises(Boom), transaction.atomic():
        open_request()
        raise Boom
    assert not ServiceRequest.objects.exists()
    assert not Event.objects.exists()
    service_request = open_request()
    with pytest.raises(Boom), transaction.atomic():
        services.change_status(service_request, StatusChoices.CLOSED, actor=None)
        raise Boom
    service_request.refresh_from_db()
    assert service_request.status == StatusChoices.PENDING_DELIVERY
    assert status_events() == []


def test_a_delivery_that_succeeds_records_pending_to_open(open_request, webhook_receiver):
    service_request = open_request(receiver_channel(webhook_receiver))
    assert deliver_now(service_request) == "delivered"
    [event] = status_events()
    assert event.summary == f"{service_request.number}: Pending delivery → Open"
    assert event.payload["channel_reference"] == webhook_receiver.deliveries[-1].ticket_id
    assert event.payload["delivery"]["state"] == "delivered"


def test_a_delivery_that_fails_for_good_and_its_retry_are_recorded(
    open_request, webhook_receiver, cast
):
    service_request = open_request(receiver_channel(webhook_receiver))
    webhook_receiver.respond_next(503)
    assert deliver_now(service_request) == "pending"
    assert status_events() == []  # a transient failure changes no status
    webhook_receiver.respond_next(400)
    assert deliver_now(service_request) == "failed"
    services.retry_delivery(service_request, actor=cast["global_admin"])
    assert deliver_now(service_request) == "delivered"
    assert [event.summary.split(": ", 1)[1] for event in status_events()] == [
        "Pending delivery → Delivery failed",
        "Delivery failed → Pending delivery",
        "Pending delivery → Open",
    ]


def test_a_delivery_to_a_request_closed_meanwhile_records_nothing(open_request, webhook_receiver):
    service_request = open_request(receiver_channel(webhook_receiver))
    services.change_status(service_request, StatusChoices.CLOSED, actor=None)
    assert deliver_now(service_request) == "delivered"
    assert [event.payload["status"] for event in status_events()] == ["closed"]


def test_a_manual_reference_records_the_request_opening(open_request, cast):
    service_request = open_request()
    assert deliver_now(service_request) == "manual"
    assert status_events() == []  # waiting for the agent is no status change
    services.record_manual_reference(
        service_request, "2611270010000123", actor=cast["helpdesk_agent"]
    )
    [event] = status_events()
    assert event.summary == f"{service_request.number}: Pending delivery → Open"
    assert event.payload["channel_reference"] == "2611270010000123"


def test_a_channel_update_records_only_a_new_status(open_request):
    service_request = open_request()
    ServiceRequest.objects.filter(pk=service_request.pk).update(status=StatusChoices.OPEN)
    service_request.refresh_from_db()
    channel_updates.apply_channel_update(service_request, "open", [{"text": "Looking into it."}])
    assert status_events() == []  # a note alone changes no status
    channel_updates.apply_channel_update(
        service_request, "attention_needed", source="Partner Center"
    )
    service_request.refresh_from_db()
    channel_updates.apply_channel_update(
        service_request, "attention_needed", source="Partner Center"
    )
    [event] = status_events()
    assert event.summary == f"{service_request.number}: Open → Attention needed"
