"""The simulator's Message center, read over HTTP as the portal reads it."""

import pytest

from outbound.graph import GraphAuthError, GraphError
from servicehealth import feeds
from simulators.service_health.messages import publish_demo_messages
from tests.customers.factories import CustomerFactory
from tests.messagecenter.helpers import publish

MESSAGES = "/admin/serviceAnnouncement/messages"


@pytest.fixture
def tenant(service_health_simulator):
    simulator, add_source = service_health_simulator
    customer = CustomerFactory()
    source = add_source(customer)
    return simulator, customer, feeds.client_for(source, sleep=lambda seconds: None)


def test_messages_come_in_microsofts_shape(tenant):
    simulator, customer, client = tenant
    publish(simulator, [customer], is_major_change=True)
    publish(simulator, [CustomerFactory()], "MC100002")  # another tenant's
    page = client.get_json(MESSAGES)
    (item,) = page["value"]
    assert page["@odata.context"].endswith("#admin/serviceAnnouncement/messages")
    assert set(item) >= {
        "id",
        "title",
        "category",
        "severity",
        "services",
        "tags",
        "isMajorChange",
        "actionRequiredByDateTime",
        "startDateTime",
        "endDateTime",
        "lastModifiedDateTime",
        "details",
        "body",
    }
    assert item["id"] == "MC100001" and item["isMajorChange"] is True
    assert item["body"]["contentType"] == "html"
    single = client.get_json(f"{MESSAGES}/MC100001")
    assert single["title"] == item["title"]
    with pytest.raises(GraphError) as missing:
        client.get_json(f"{MESSAGES}/MC100002")
    assert missing.value.status == 404


def test_messages_are_paged_with_a_next_link(tenant):
    simulator, customer, client = tenant
    for n in range(7):
        publish(simulator, [customer], f"MC20000{n}")
    first = client.get_json(MESSAGES, {"$top": "3"})
    assert len(first["value"]) == 3 and "$skiptoken" in first["@odata.nextLink"]
    ids = [m["id"] for m in client.get_collection(MESSAGES)]
    assert ids == sorted(ids) and len(ids) == 7


def test_a_tenant_without_message_center_reader_is_refused_there_only(tenant):
    simulator, customer, client = tenant
    simulator.deny_messages(customer.tenant_id)
    with pytest.raises(GraphAuthError) as refused:
        client.get_json(MESSAGES)
    assert refused.value.status == 403
    assert client.get_json("/admin/serviceAnnouncement/healthOverviews")["value"]


def test_the_demo_publishes_messages_to_every_tenant_and_some(tenant):
    simulator, customer, _client = tenant
    other = CustomerFactory()
    simulator.add_tenant(str(other.tenant_id), client_id="portal-app", client_secret="x")
    publish_demo_messages(simulator, [customer.tenant_id, other.tenant_id])
    assert len(simulator.messages_for(customer.tenant_id)) == 4
    assert len(simulator.messages_for(other.tenant_id)) == 2
