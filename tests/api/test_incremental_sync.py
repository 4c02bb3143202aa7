"""Incremental sync: every collection takes ``modified_since`` and a PSA polling it gets each
change exactly once, including changes made while it pages and writes that commit late."""

import threading
from base64 import b64encode
from datetime import timedelta
from functools import partial

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from accounts.roles import Role
from core import incremental
from customers.models import Customer
from incidents.models import Incident
from servicehealth.models import FeedSource, TenantServiceHealth
from servicerequests.models import Channel, RoutingRule, ServiceRequest, SupportTopic
from tests.customers.factories import CustomerFactory
from tests.incidents.factories import IncidentFactory
from tests.servicehealth.factories import (
    FeedSourceFactory,
    ServiceFactory,
    TenantServiceHealthFactory,
)
from tests.servicerequests.factories import (
    ChannelFactory,
    RoutingRuleFactory,
    ServiceRequestFactory,
    SupportTopicFactory,
)


def _touch(model, row, **fields):
    # QuerySet.update() skips auto_now: the change and its time are exactly these.
    model.objects.filter(pk=row.pk).update(modified_at=timezone.now(), **fields)


def _health_row():
    return TenantServiceHealthFactory(status="serviceDegradation")


def _service():
    service = ServiceFactory()
    # A customer's status of it, so the service shows a status and has a change to sync.
    TenantServiceHealthFactory(service=service, status="serviceDegradation")
    return service


def _change_status(service=None, row=None):
    rows = TenantServiceHealth.objects.filter(service=service) if service else [row]
    for health in rows:
        TenantServiceHealth.objects.filter(pk=health.pk).update(
            status="serviceRestored", updated_at=timezone.now()
        )


def _renamed(model, row):
    _touch(model, row, name=f"{row.name} (changed)")


def _collection(make, change, attribute="pk", field=None):
    """(make a row, change it, the row's key in the list, its key in a response row, the response
    field that carries its time of change): a row is known by its ``attribute``, which a
    response row shows as ``field`` (by default: under the same name; ``id`` for the pk)."""
    field = field or ("id" if attribute == "pk" else attribute)
    return (
        make,
        change,
        lambda row: str(getattr(row, attribute)),
        lambda item: str(item[field]),
        "modified_at",
    )


COLLECTIONS = {
    "/api/v1/customers/": _collection(
        CustomerFactory,
        lambda row: _touch(Customer, row, company_name=f"{row.company_name} (changed)"),
        "tenant_id",
    ),
    "/api/v1/services/": _collection(
        _service, lambda row: _change_status(service=row), "graph_id", "id"
    ),
    "/api/v1/health/": (
        _health_row,
        lambda row: _change_status(row=row),
        lambda row: (str(row.source.customer.tenant_id), row.service.graph_id),
        lambda item: (item["customer"]["tenant_id"], item["service"]["id"]),
        "modified_at",
    ),
    "/api/v1/feed-sources/": _collection(FeedSourceFactory, partial(_renamed, FeedSource)),
    "/api/v1/incidents/": _collection(
        IncidentFactory,
        lambda row: _touch(Incident, row, title="Changed"),
        "microsoft_id",
    ),
    "/api/v1/service-requests/": _collection(
        ServiceRequestFactory,
        lambda row: _touch(ServiceRequest, row, title="Changed"),
        "number",
    ),
    "/api/v1/support-topics/": _collection(SupportTopicFactory, partial(_renamed, SupportTopic)),
    "/api/v1/channels/": _collection(ChannelFactory, partial(_renamed, Channel)),
    "/api/v1/routing-rules/": _collection(RoutingRuleFactory, partial(_renamed, RoutingRule)),
}


class Psa:
    """A PSA's poller: ``modified_since`` = the newest change it has, ``next`` to the end."""

    def __init__(self, client, url, *, since, stamp="modified_at", page_size=2, headers=None):
        self.client, self.url, self.stamp = client, url, stamp
        self.watermark, self.page_size, self.headers = since, page_size, headers or {}
        self.delivered = []  # every item received, in order

    def poll(self, between_pages=None):
        """One poll; ``between_pages(n)`` runs after page n. Returns the items received."""
        response = self.client.get(
            self.url,
            {"modified_since": self.watermark, "page_size": self.page_size},
            **self.headers,
        )
        received, page = [], 0
        while True:
            assert response.status_code == 200, response.content
            body = response.json()
            received += body["results"]
            page += 1
            if body["next"] is None:
                break
            if between_pages:
                between_pages(page)
            response = self.client.get(body["next"], **self.headers)
        if received:
            self.watermark = max(item[self.stamp] for item in received)
        self.delivered += received
        return received


@pytest.fixture
def no_settle(settings):
    # Rows made by the test are fresh: served at once. The window has its own test below.
    settings.API_SYNC_SETTLE_SECONDS = 0


@pytest.mark.parametrize("url", sorted(COLLECTIONS))
def test_every_collection_syncs_each_change_once(url, client_for, no_settle):
    make, change, row_key, item_key, stamp = COLLECTIONS[url]
    since = timezone.now().isoformat()  # seeded rows (topics, channels) are older
    first, second = make(), make()
    psa = Psa(client_for("global_admin"), url, since=since, stamp=stamp, page_size=1)

    assert [item_key(item) for item in psa.poll()] == [row_key(first), row_key(second)]
    change(first)
    assert [item_key(item) for item in psa.poll()] == [row_key(first)]
    assert psa.poll() == []
    change(second)
    change(first)
    assert [item_key(item) for item in psa.poll()] == [row_key(second), row_key(first)]
    assert psa.poll() == []
    stamps = [item[stamp] for item in psa.delivered]
    assert len({(item_key(item), item[stamp]) for item in psa.delivered}) == len(stamps)


def test_a_psa_gets_each_customer_change_exactly_once(client_for, no_settle):
    """Several polls, changes between and during them, a row changed twice, equal timestamps
    across a page boundary: nothing is missed and nothing comes twice."""
    start = timezone.now() - timedelta(hours=1)
    customers = [CustomerFactory(company_name=f"Sync {n}") for n in range(6)]
    # Customers 1-3 share one timestamp, so a page ends inside the run of equal values.
    stamps = [
        start,
        *[start + timedelta(minutes=1)] * 3,
        *[start + timedelta(minutes=n) for n in (2, 3)],
    ]
    for customer, moment in zip(customers, stamps, strict=True):
        Customer.objects.filter(pk=customer.pk).update(modified_at=moment)
    psa = Psa(
        client_for("helpdesk_agent"), "/api/v1/customers/", since=start - timedelta(seconds=1)
    )

    def rename(index, name):
        _touch(Customer, customers[index], company_name=name)

    # Poll 1: all six; after its first page, customer 1 (already received, one of the equal
    # timestamps) changes: the others of its run still come, and it comes again at the end.
    received = psa.poll(between_pages=lambda page: page == 1 and rename(1, "Sync 1 v2"))
    assert [item["company_name"] for item in received] == [
        "Sync 0", "Sync 1", "Sync 2", "Sync 3", "Sync 4", "Sync 5", "Sync 1 v2",
    ]  # fmt: skip
    # Poll 2: customer 3 changed twice in between: once, as it is now.
    rename(3, "Sync 3 v2")
    rename(3, "Sync 3 v3")
    assert [item["company_name"] for item in psa.poll()] == ["Sync 3 v3"]
    # Poll 3: two changes, in the order they happened.
    rename(5, "Sync 5 v2")
    rename(0, "Sync 0 v2")
    assert [item["company_name"] for item in psa.poll()] == ["Sync 5 v2", "Sync 0 v2"]
    assert psa.poll() == []

    delivered = [(item["tenant_id"], item["modified_at"]) for item in psa.delivered]
    assert len(delivered) == len(set(delivered)), "a change was delivered twice"
    latest = {item["tenant_id"]: item for item in psa.delivered}
    for customer in Customer.objects.filter(pk__in=[c.pk for c in customers]):
        assert latest[str(customer.tenant_id)]["company_name"] == customer.company_name


@pytest.mark.django_db(transaction=True)
def test_a_write_that_commits_late_is_not_overtaken(api_token_for, no_settle):
    """A change whose transaction is still open holds back later changes until it commits."""
    call_command("sync_roles", verbosity=0)  # transactional tests start without the roles
    token = api_token_for(Role.HELPDESK_AGENT, scopes=["customers:read"])
    late, early = CustomerFactory(company_name="Late"), CustomerFactory(company_name="Early")
    psa = Psa(
        Client(),
        "/api/v1/customers/",
        since=timezone.now() - timedelta(hours=1),
        headers={"HTTP_AUTHORIZATION": f"Bearer {token}"},
    )
    assert [item["company_name"] for item in psa.poll()] == ["Late", "Early"]

    written, commit = threading.Event(), threading.Event()
    failures = []

    def slow_writer():
        try:
            with transaction.atomic():
                # The transaction is open from here; the change is stamped after it began.
                Customer.objects.select_for_update().get(pk=late.pk)
                _touch(Customer, late, company_name="Late v2")
                written.set()
                assert commit.wait(timeout=60), "the test never let the writer commit"
        except Exception as exc:  # reported by the main thread
            failures.append(exc)
            written.set()
        finally:
            connection.close()

    writer = threading.Thread(target=slow_writer)
    writer.start()
    try:
        assert written.wait(timeout=60)
        # Committed at once, stamped after the slow writer's change.
        _touch(Customer, early, company_name="Early v2")
        # Serving "Early v2" now would move the PSA past the uncommitted "Late v2" for good.
        assert psa.poll() == []
    finally:
        commit.set()
        writer.join()
    assert failures == []
    assert [item["company_name"] for item in psa.poll()] == ["Late v2", "Early v2"]
    assert psa.poll() == []


def test_changes_are_served_once_settled(client_for, settings):
    settings.API_SYNC_SETTLE_SECONDS = 5
    since = (timezone.now() - timedelta(minutes=1)).isoformat()
    customer = CustomerFactory(company_name="Fresh")
    signed_in = client_for("helpdesk_agent")
    # Without modified_since the list is served as it is.
    listed = signed_in.get("/api/v1/customers/").json()["results"]
    assert [item["company_name"] for item in listed] == ["Fresh"]
    # An incremental read waits until the change is older than the settle window.
    psa = Psa(signed_in, "/api/v1/customers/", since=since)
    assert psa.poll() == []
    Customer.objects.filter(pk=customer.pk).update(
        modified_at=timezone.now() - timedelta(seconds=6)
    )
    assert [item["company_name"] for item in psa.poll()] == ["Fresh"]
    assert psa.poll() == []


def test_modified_since_is_exclusive(client_for, no_settle):
    customer = CustomerFactory()
    stamp = customer.modified_at.isoformat()
    signed_in = client_for("helpdesk_agent")
    at = signed_in.get("/api/v1/customers/", {"modified_since": stamp}).json()["results"]
    assert at == []
    before = customer.modified_at - timedelta(microseconds=1)
    results = signed_in.get("/api/v1/customers/", {"modified_since": before.isoformat()}).json()[
        "results"
    ]
    assert [item["tenant_id"] for item in results] == [str(customer.tenant_id)]


@pytest.mark.parametrize(
    "cursor",
    [
        "not-base64!",
        b64encode(b"p=not-json").decode(),
        b64encode(b'p=["2025-01-01T00:00:00+00:00"]').decode(),  # one value, two are needed
        b64encode(b'p=["yesterday",1]').decode(),
        b64encode(b'p=["2025-01-01T00:00:00+00:00","x"]').decode(),
    ],
)
def test_a_forged_cursor_is_a_404(cursor, client_for):
    response = client_for("helpdesk_agent").get("/api/v1/customers/", {"cursor": cursor})
    assert response.status_code == 404
    assert response.json()["errors"][0]["detail"] == "Invalid cursor"


def test_previous_links_page_back(client_for):
    customers = [CustomerFactory() for _n in range(5)]
    signed_in = client_for("helpdesk_agent")
    first = signed_in.get("/api/v1/customers/", {"page_size": 2}).json()
    second = signed_in.get(first["next"]).json()
    back = signed_in.get(second["previous"]).json()
    assert [item["tenant_id"] for item in back["results"]] == [
        item["tenant_id"] for item in first["results"]
    ]
    assert back["previous"] is None
    assert len(first["results"]) + len(second["results"]) == 4
    assert {item["tenant_id"] for item in first["results"] + second["results"]} <= {
        str(customer.tenant_id) for customer in customers
    }


def test_the_schema_documents_modified_since_on_every_collection(db):
    schema = SchemaGenerator().get_schema(request=None, public=True)
    for url in COLLECTIONS:
        operation = schema["paths"][url]["get"]
        parameters = {parameter["name"]: parameter for parameter in operation["parameters"]}
        assert "cursor" in parameters, url
        since = parameters["modified_since"]
        assert since["schema"]["format"] == "date-time", url
        assert "strictly after" in since["description"], url


@pytest.mark.django_db(transaction=True)
def test_a_transaction_left_open_too_long_does_not_stall_sync(client_for, settings, no_settle):
    """A psql session left open in a transaction: after API_SYNC_MAX_WRITE_SECONDS it no
    longer holds incremental reads back."""
    import psycopg2

    call_command("sync_roles", verbosity=0)
    psa = Psa(
        client_for("helpdesk_agent"),
        "/api/v1/customers/",
        since=timezone.now() - timedelta(hours=1),
    )
    db = settings.DATABASES["default"]
    forgotten = psycopg2.connect(
        host=db["HOST"],
        port=db["PORT"],
        user=db["USER"],
        password=db["PASSWORD"],
        dbname=db["NAME"],
    )
    try:
        with forgotten.cursor() as cursor:
            cursor.execute("SELECT 1")  # psycopg2 opened a transaction: BEGIN was sent first
        CustomerFactory(company_name="Changed after the session opened")
        # Within the limit the open transaction holds the change back (it could be a write).
        settings.API_SYNC_MAX_WRITE_SECONDS = 3600
        assert psa.poll() == []
        # Past the limit it is not waited for.
        settings.API_SYNC_MAX_WRITE_SECONDS = 0
        assert [item["company_name"] for item in psa.poll()] == ["Changed after the session opened"]
    finally:
        forgotten.close()


@pytest.mark.django_db(transaction=True)
def test_a_cutoff_reading_is_reused_for_a_moment(settings, monkeypatch, django_assert_num_queries):
    settings.API_SYNC_SETTLE_SECONDS = 5
    monkeypatch.setattr(incremental, "_readings", {})
    with django_assert_num_queries(1):
        first = incremental.settled_cutoff(Customer)
    with django_assert_num_queries(0):
        assert incremental.settled_cutoff(Customer) == first
    monkeypatch.setattr(incremental, "CUTOFF_REUSE_SECONDS", 0)
    with django_assert_num_queries(1):
        assert incremental.settled_cutoff(Customer) > first


@pytest.mark.django_db(transaction=True)
def test_a_reading_inside_a_transaction_is_not_kept(
    settings, monkeypatch, django_assert_num_queries
):
    """Such a reading leaves out the transaction's own writes, which other threads must wait for."""
    settings.API_SYNC_SETTLE_SECONDS = 5
    monkeypatch.setattr(incremental, "_readings", {})
    with transaction.atomic():
        incremental.settled_cutoff(Customer)
    with django_assert_num_queries(1):
        incremental.settled_cutoff(Customer)


@pytest.mark.django_db(transaction=True)
def test_a_reused_reading_still_holds_back_a_write_begun_after_it(settings, monkeypatch):
    settings.API_SYNC_SETTLE_SECONDS = 5
    monkeypatch.setattr(incremental, "_readings", {})
    reading = incremental.settled_cutoff(Customer)
    customer = CustomerFactory()
    with transaction.atomic():
        _touch(Customer, customer, company_name="Open")
        stamp = Customer.objects.get(pk=customer.pk).modified_at
        assert incremental.settled_cutoff(Customer) == reading < stamp
