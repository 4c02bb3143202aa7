"""The customers, incidents and service-requests lists, written from plain values
(``core.listing``): each row is exactly what the detail endpoint answers for it, paging and
filters work as before, and the queries per request stay few and do not grow with the page."""

import re
import uuid
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import User
from accounts.roles import Role
from customers.models import Contact, Customer, Tag
from incidents import services as incident_services
from incidents.api import affected_customers_of
from incidents.models import Incident
from servicerequests import services as request_services
from servicerequests.models import Channel, Delivery, RoutingRule, ServiceRequest, SupportTopic
from tests.customers.factories import CustomerFactory
from tests.incidents.factories import AffectedCustomerFactory, IncidentFactory

LISTS = {
    "customers": ("/api/v1/customers/", Customer),
    "incidents": ("/api/v1/incidents/", Incident),
    "service-requests": ("/api/v1/service-requests/", ServiceRequest),
}
# What the list itself reads, past authentication and permissions: its rows and one query per
# kind of child (tags and contacts; affected customers and acknowledgements; the requests'
# related rows). ``modified_since`` adds the read of the settled cutoff.
OWN_QUERIES = {"customers": 3, "incidents": 3, "service-requests": 2}
# Tables the authentication and permission checks read, not the list.
AUTH_TABLES = {"knox_authtoken", "accounts_apiclient", "auth_permission", "accounts_user"}


def _customers(cast):
    now = timezone.now()
    premier, finance = Tag.objects.create(name="premier"), Tag.objects.create(name="finance")
    contoso = CustomerFactory(
        company_name="Contoso Ltd",
        other_domains=["contoso.com", "contoso.co.uk"],
        notes="Month end is critical.",
        gdap_access_until=now + timedelta(days=200),
        gdap_ever_active=True,
    )
    contoso.tags.add(premier, finance)
    Contact.objects.create(customer=contoso, name="Pat Doe", email="pat@c.example", role="primary")
    Contact.objects.create(customer=contoso, name="Ari", email="ari@c.example", role="billing")
    CustomerFactory(gdap_access_until=now + timedelta(days=3), gdap_ever_active=True)
    CustomerFactory(gdap_access_until=now - timedelta(days=3), gdap_ever_active=True)
    return [contoso, CustomerFactory()]


def _incidents(cast):
    customers = _customers(cast)
    mail = IncidentFactory(high_impact=None, ended_at=timezone.now(), is_resolved=True)
    for customer in customers:
        AffectedCustomerFactory(incident=mail, customer=customer)
    incident_services.acknowledge(mail, user=cast["helpdesk_agent"], note="Seen.")
    leaver = User.objects.create_user("leaver@partner.example", None, full_name="Lee Ver")
    incident_services.acknowledge(mail, user=leaver, note="Later.")
    quiet = IncidentFactory(status="unknownFutureValue", classification="advisory")
    incident_services.acknowledge(quiet, user=leaver, note="")
    leaver.delete()  # the acknowledgement stays, without its user
    IncidentFactory()


def _service_requests(cast):
    topic = SupportTopic.objects.create(name="Exchange Online", category="technical")
    channel = Channel.objects.create(name="Premier", kind="manual", category="technical")
    RoutingRule.objects.create(position=1, name="All", support_topic=topic, channel=channel)
    incident = IncidentFactory()
    for n in range(4):
        _open_request(cast, topic, incident=incident if n % 2 else None, assigned=bool(n % 2))
    first, second, third, _fourth = ServiceRequest.objects.order_by("pk")
    # One without a delivery row or a channel, one past its response target (breached), one
    # answered and closed.
    Delivery.objects.filter(service_request=first).delete()
    ServiceRequest.objects.filter(pk=first.pk).update(channel=None)
    ServiceRequest.objects.filter(pk=second.pk).update(
        response_due_at=timezone.now() - timedelta(hours=1)
    )
    ServiceRequest.objects.filter(pk=third.pk).update(
        status="closed", first_response_at=timezone.now(), closed_at=timezone.now()
    )


def _open_request(cast, topic, *, incident, assigned):
    return request_services.open_service_request(
        actor=cast["admin_agent"],
        title=f"Mail flow delayed {uuid.uuid4().hex[:6]}",
        description="External mail queues for 30 minutes and more.",
        severity="moderate",
        support_topic=topic,
        customer=CustomerFactory(),
        contact_name="Pat Doe",
        contact_email="pat@contoso.example",
        incident=incident,
        assignee=cast["helpdesk_agent"] if assigned else None,
    )


SEED = {"customers": _customers, "incidents": _incidents, "service-requests": _service_requests}


def _client(api_token_for):
    token = api_token_for(Role.HELPDESK_AGENT, scopes=["read"])
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def _all_rows(client, url):
    rows = []
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content[:300]
        body = response.json()
        rows += body["results"]
        url = body["next"]
    return rows


@pytest.mark.parametrize("name", sorted(LISTS))
def test_each_row_is_what_the_detail_endpoint_answers(name, cast, api_token_for):
    SEED[name](cast)
    client = _client(api_token_for)
    path, model = LISTS[name]
    rows = _all_rows(client, path)
    assert len(rows) == model.objects.count() >= 3
    for row in rows:
        detail = client.get(row["url"])
        assert detail.status_code == 200
        assert list(row) == list(detail.json())  # the same keys, in the same order
        assert row == detail.json()
    # Paged two at a time (cursor positions from the values rows), the same rows in order.
    assert _all_rows(client, f"{path}?page_size=2") == rows


def test_the_rows_carry_what_was_seeded(cast, api_token_for):
    _incidents(cast)
    client = _client(api_token_for)
    customers = {row["company_name"]: row for row in _all_rows(client, LISTS["customers"][0])}
    contoso = customers["Contoso Ltd"]
    assert contoso["tags"] == ["finance", "premier"]
    assert [contact["role"] for contact in contoso["contacts"]] == ["billing", "primary"]
    assert contoso["gdap_state"] == "active"
    assert sorted(row["gdap_state"] for row in customers.values()) == [
        "active",
        "expired",
        "expiring",
        "none",
    ]
    incidents = _all_rows(client, LISTS["incidents"][0])
    acknowledged = [row for row in incidents if row["acknowledgement_count"]]
    assert sorted(row["acknowledgement_count"] for row in acknowledged) == [1, 2]
    assert {row["last_acknowledgement"]["user"] for row in acknowledged} == {None}
    assert [len(row["affected_customers"]) for row in incidents if row["is_resolved"]] == [2]


@pytest.mark.parametrize("name", sorted(LISTS))
def test_the_lists_filters_still_apply(name, cast, api_token_for):
    SEED[name](cast)
    client = _client(api_token_for)
    path, model = LISTS[name]
    row_filter = {
        "customers": ("q", "contoso", 1),
        "incidents": ("classification", "advisory", 1),
        "service-requests": ("status", "closed", 1),
    }[name]
    response = client.get(path, {row_filter[0]: row_filter[1]})
    assert response.status_code == 200
    assert len(response.json()["results"]) == row_filter[2]
    bad = client.get(path, {"modified_since": "not a time"})
    assert bad.status_code == 400


def _seed_many(name, cast, count):
    if name == "customers":
        tag = Tag.objects.create(name="gold")
        for n in range(count):
            customer = CustomerFactory()
            customer.tags.add(tag)
            Contact.objects.create(customer=customer, name=f"C{n}", email=f"c{n}@c.example")
    elif name == "incidents":
        customer = CustomerFactory()
        for _n in range(count):
            incident = IncidentFactory()
            AffectedCustomerFactory(incident=incident, customer=customer)
            incident_services.acknowledge(incident, user=cast["helpdesk_agent"], note="")
    else:
        for _n in range(count // 4):
            _service_requests_again(cast)
    # Settled, so ``modified_since`` finds them.
    LISTS[name][1].objects.update(modified_at=timezone.now() - timedelta(hours=1))


def _service_requests_again(cast):
    topic = SupportTopic.objects.filter(name="Exchange Online").first()
    if topic is None:
        _service_requests(cast)
        return
    for _n in range(4):
        _open_request(cast, topic, incident=None, assigned=True)


def _queries(client, url):
    """(all the queries of one GET of ``url``, those of the list itself), after a warm-up GET
    (a token's first use records it)."""
    assert client.get(url).status_code == 200
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    assert response.json()["results"]
    own = [
        query
        for query in queries.captured_queries
        if re.search(r'FROM "(\w+)"', query["sql"]) is None
        or re.search(r'FROM "(\w+)"', query["sql"]).group(1) not in AUTH_TABLES
    ]
    return len(queries), len(own)


def _targets(client, path):
    """The three shapes the benchmark loads: first page, ``modified_since``, a mid-list cursor."""
    since = (timezone.now() - timedelta(days=1)).isoformat()
    following = client.get(path, {"page_size": 5}).json()["next"]
    return {
        "first page": (path, False),
        "modified_since": (f"{path}?{urlencode({'modified_since': since})}", True),
        "cursor": (following, False),
    }


@pytest.mark.parametrize("name", sorted(LISTS))
def test_the_lists_own_queries_are_few_and_do_not_grow_with_the_page(name, cast, api_token_for):
    _seed_many(name, cast, 60)
    client = _client(api_token_for)
    path, _model = LISTS[name]
    for label, (url, filtered) in _targets(client, path).items():
        separator = "&" if "?" in url else "?"
        small = _queries(client, f"{url}{separator}page_size=5")
        large = _queries(client, f"{url}{separator}page_size=200")
        assert small == large, label  # no query per row
        assert large[1] == OWN_QUERIES[name] + filtered, label


@pytest.mark.parametrize("name", sorted(LISTS))
def test_a_list_request_makes_at_most_four_queries_in_all(name, cast, api_token_for):
    """Token authentication and the permission checks included: they are answered from the
    cache once the token has been seen."""
    _seed_many(name, cast, 8)
    client = _client(api_token_for)
    path, _model = LISTS[name]
    for label, (url, _filtered) in _targets(client, path).items():
        total, _own = _queries(client, url)
        assert total <= 4, label


def test_an_incidents_affected_customers_are_those_the_caller_may_see(db):
    contoso, fabrikam = CustomerFactory(company_name="Contoso"), CustomerFactory(company_name="Fab")
    incident, quiet = IncidentFactory(), IncidentFactory()
    for customer in (fabrikam, contoso):
        AffectedCustomerFactory(incident=incident, customer=customer)
    ids = [incident.pk, quiet.pk]
    everyone = affected_customers_of(ids, Customer.objects.all())
    assert [link["company_name"] for link in everyone[incident.pk]] == ["Contoso", "Fab"]
    assert everyone[incident.pk][0] == {
        "tenant_id": str(contoso.tenant_id),
        "company_name": "Contoso",
    }
    assert quiet.pk not in everyone
    # A narrower set of customers (a rule in ``visible_to``) narrows the links; none, none.
    some = affected_customers_of(ids, Customer.objects.filter(pk=fabrikam.pk))
    assert [link["company_name"] for link in some[incident.pk]] == ["Fab"]
    assert affected_customers_of(ids, Customer.objects.none()) == {}
