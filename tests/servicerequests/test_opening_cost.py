"""What opening and delivering a service request cost in statements, and that what they answer and
record, built from the rows they wrote rather than read back, is what a read of the request shows.
"""

import json
import uuid

import pytest
import redis
from django.conf import settings
from django.test import Client

from accounts.roles import Role
from core import broker, events
from core.models import AuditEntry, Event, EventTypeChoices
from customers.models import Tag
from incidents.models import Incident
from servicerequests import delivery
from servicerequests.models import Channel, Delivery, RoutingRule
from tests.customers.factories import CustomerFactory
from tests.servicerequests.helpers import channel, topic
from tests.servicerequests.test_api import (
    LIST_URL,
    bearer,
    make_channel,
    open_request,
    payload,
    post,
)
from tests.servicerequests.test_api import route as route  # a fixture, used by name

# A transaction's two statements, counted where it is a savepoint inside the test's
# transaction (BEGIN and COMMIT are not).
TRANSACTION = 2
# The routing rules; the request; its number; its delivery (outbox) row; its two timeline
# entries in one statement; the audit entry; the event. In the caller's transaction when there
# is one, with no savepoint of its own.
OPEN_STATEMENTS = 7
# The topic and the customer the serializer validates; the Idempotency-Key looked up, then
# written with the answer; the request's transaction around it all.
API_STATEMENTS = OPEN_STATEMENTS + 2 + 2 + TRANSACTION
# The outbox's: claim, read (with the channel, the customer and the topic), number and log the
# attempt, mark the row while the claim still holds it (no separate check). Then the request
# locked and read with its assignee, changed, the event, the timeline entry (a webhook channel
# takes no notes, so none wait for it).
DELIVER_STATEMENTS = 5 + 4 + TRANSACTION


def test_opening_writes_everything_in_a_fixed_number_of_statements(
    route, django_assert_num_queries
):
    customer = CustomerFactory()
    with django_assert_num_queries(OPEN_STATEMENTS):
        service_request = open_request(route[0], customer)
    assert service_request.channel == route[1]
    assert list(service_request.timeline.values_list("kind", flat=True)) == ["created", "routed"]
    assert Delivery.objects.get(service_request=service_request).state == "pending"
    assert AuditEntry.objects.filter(target_id=str(service_request.pk)).count() == 1
    assert Event.objects.filter(object_id=service_request.number).count() == 1


def test_opening_wakes_its_delivery_then_the_fan_out_in_one_batch(
    route, monkeypatch, django_capture_on_commit_callbacks
):
    batches = []
    monkeypatch.setattr(broker, "send_tasks", batches.append)
    with django_capture_on_commit_callbacks(execute=True):
        service_request = open_request(route[0], CustomerFactory())
    outbox = Delivery.objects.get(service_request=service_request)
    assert batches == [[(delivery.DELIVER_TASK, (outbox.pk,)), (events.FAN_OUT_TASK, ())]]


def test_a_batch_reaches_each_tasks_queue_in_its_order(redis_url):
    assert redis_url == settings.CELERY_BROKER_URL
    client = redis.Redis.from_url(redis_url)
    client.delete("escalations", "webhooks")
    broker.send_tasks(
        [
            (delivery.DELIVER_TASK, (41,)),
            (events.FAN_OUT_TASK, ()),
            (delivery.DELIVER_TASK, (42,)),
        ]
    )

    def queued(queue):  # oldest first: the worker takes from the tail
        headers = [json.loads(message)["headers"] for message in client.lrange(queue, 0, -1)]
        return [(header["task"], header["argsrepr"]) for header in reversed(headers)]

    assert queued("escalations") == [
        (delivery.DELIVER_TASK, "(41,)"),
        (delivery.DELIVER_TASK, "(42,)"),
    ]
    assert queued("webhooks") == [(events.FAN_OUT_TASK, "()")]
    client.delete("escalations", "webhooks")


def test_the_customers_tags_are_read_only_when_a_rule_asks_for_them(
    route, django_assert_num_queries
):
    customer = CustomerFactory()
    desk = make_channel(name="VIP desk")
    RoutingRule.objects.create(position=5, name="VIP first", customer_tag="vip", channel=desk)
    with django_assert_num_queries(OPEN_STATEMENTS + 1):
        assert open_request(route[0], customer).channel == route[1]
    customer.tags.add(Tag.objects.create(name="vip"))
    assert open_request(route[0], customer).channel == desk


def test_opening_through_the_api_has_a_fixed_budget(
    api_token_for, route, django_assert_num_queries
):
    token = api_token_for(Role.HELPDESK_AGENT)
    customer = CustomerFactory()
    client = Client()
    assert post(client, LIST_URL, payload(route[0], customer), **bearer(token)).status_code == 201
    with django_assert_num_queries(API_STATEMENTS):
        response = post(
            client,
            LIST_URL,
            payload(route[0], customer),
            HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
            **bearer(token),
        )
    assert response.status_code == 201, response.content


@pytest.mark.usefixtures("portal_at_testserver")
def test_the_answer_and_the_event_are_the_request_as_a_read_shows_it(client_for, route):
    Incident.objects.create(
        microsoft_id="EX424242", classification="incident", status="serviceDegradation", title="x"
    )
    client = client_for("helpdesk_agent")
    body = payload(
        route[0],
        CustomerFactory(company_name="Contoso Ltd"),
        incident="EX424242",
        assignee="admin-agent@partner.example",
        locale="tr-TR",
    )
    response = post(client, LIST_URL, body)
    assert response.status_code == 201, response.content
    shown = client.get(response["Location"]).json()
    assert response.json() == shown
    assert shown["incident"] == "EX424242"
    assert shown["assignee"] == "admin-agent@partner.example"
    event = Event.objects.get(type=EventTypeChoices.SERVICE_REQUEST_CREATED)
    assert event.payload == shown


def test_the_answer_links_to_the_address_asked_and_the_event_to_the_portal(
    client_for, route, settings
):
    settings.PORTAL_BASE_URL = "https://portal.partner.example"
    response = post(client_for("helpdesk_agent"), LIST_URL, payload(route[0], CustomerFactory()))
    assert response.status_code == 201, response.content
    path = f"{LIST_URL}{response.json()['number']}/"
    assert response.json()["url"] == response["Location"] == f"http://testserver{path}"
    event = Event.objects.get()
    assert event.payload["url"] == event.object_url == f"https://portal.partner.example{path}"


@pytest.mark.usefixtures("portal_at_testserver")
def test_a_delivery_records_the_request_as_a_read_then_shows_it(
    client_for, cast, webhook_receiver, django_assert_num_queries
):
    target = channel(
        "webhook",
        endpoint=webhook_receiver.base_url + "/tickets",
        credentials={"signing_secret": "receiver-signing-secret"},
    )
    Channel.objects.exclude(pk=target.pk).update(enabled=False)
    incident = Incident.objects.create(
        microsoft_id="EX515151", classification="incident", status="serviceDegradation", title="x"
    )
    about_nothing, about_incident = (
        open_request(
            topic(),
            CustomerFactory(),
            actor=cast["helpdesk_agent"],
            assignee=cast["admin_agent"],
            incident=linked,
        )
        for linked in (None, incident)
    )
    for service_request, statements in (
        (about_nothing, DELIVER_STATEMENTS),
        # The incident is read on its own, only when the request has one.
        (about_incident, DELIVER_STATEMENTS + 1),
    ):
        outbox = Delivery.objects.get(service_request=service_request)
        with django_assert_num_queries(statements):
            assert delivery.deliver(outbox.pk) == "delivered"
        event = Event.objects.get(
            type=EventTypeChoices.SERVICE_REQUEST_STATUS_CHANGED, object_id=service_request.number
        )
        shown = client_for("helpdesk_agent").get(event.object_url).json()
        assert event.payload == shown
        assert shown["status"] == "open"
        assert shown["channel_reference"] == webhook_receiver.deliveries[-1].ticket_id
        assert shown["delivery"]["state"] == "delivered"
        assert shown["assignee"] == cast["admin_agent"].email
    assert shown["incident"] == "EX515151"
    assert webhook_receiver.deliveries[-1].json["incident"] == "EX515151"
