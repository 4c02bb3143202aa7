"""The service health API across the role matrix: services, per-customer health, feed sources
(with a write-only, encrypted client secret) and the poll action."""

import json
import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.roles import Role
from core.models import AuditEntry
from servicehealth.models import FeedSource, Service, TenantServiceHealth
from tests.customers.factories import CustomerFactory
from tests.helpers import ADMIN_ONLY, SUPPORT_READS, assert_write_answer, schema_text

SERVICES_URL = "/api/v1/services/"
HEALTH_URL = "/api/v1/health/"
SOURCES_URL = "/api/v1/feed-sources/"
CANARY = "canary-secret-7f3e9d1c-do-not-leak"
STORED_SECRET = "stored-secret"
# Loopback addresses are allowed in development and tests (OUTBOUND_URL_ALLOWLIST).
BASE_URL = "http://127.0.0.1:9/v1.0"
TOKEN_URL = "http://127.0.0.1:9/{tenant_id}/oauth2/v2.0/token"


def bearer(token):
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def make_source(customer=None, secret=STORED_SECRET, **fields):
    values = {
        "name": f"Feed of {customer.company_name}" if customer else "Partner tenant",
        "customer": customer,
        "tenant_id": customer.tenant_id if customer else uuid.uuid4(),
        "base_url": BASE_URL,
        "token_url": TOKEN_URL,
        "client_id": "portal-app",
        **fields,
    }
    source = FeedSource(**values)
    source.client_secret = secret
    source.save()
    return source


def service(graph_id, name=None):
    return Service.objects.get_or_create(graph_id=graph_id, defaults={"name": name or graph_id})[0]


def set_health(source, graph_id, status, updated_at=None, name=None):
    return TenantServiceHealth.objects.create(
        source=source,
        service=service(graph_id, name),
        status=status,
        updated_at=updated_at or timezone.now(),
    )


def customer_source(name="Contoso Ltd"):
    return make_source(CustomerFactory(company_name=name))


def new_source_payload(**overrides):
    return {
        "name": "Fabrikam feed",
        "tenant_id": str(uuid.uuid4()),
        "base_url": BASE_URL,
        "token_url": TOKEN_URL,
        "client_id": "portal-app",
        "client_secret": CANARY,
        "poll_interval_seconds": 300,
        "enabled": True,
        **overrides,
    }


def rows(response):
    return response.json()["results"]


def assert_no_canary(response):
    assert CANARY not in response.content.decode()


# --- services ---------------------------------------------------------------------------------


@pytest.mark.parametrize("principal, expected", SUPPORT_READS.items())
def test_services_by_role(principal, expected, client_for):
    set_health(customer_source(), "Exchange", "serviceOperational", name="Exchange Online")
    response = client_for(principal).get(SERVICES_URL)
    assert response.status_code == expected
    if expected == 200:
        assert [row["id"] for row in rows(response)] == ["Exchange"]


def test_services_show_the_worst_status_across_customers(client_for):
    contoso, fabrikam, northwind = (
        customer_source("Contoso"),
        customer_source("Fabrikam"),
        customer_source("Northwind"),
    )
    partner = make_source()  # the partner's own tenant: not a customer
    set_health(contoso, "Exchange", "serviceDegradation", name="Exchange Online")
    set_health(fabrikam, "Exchange", "serviceInterruption")
    set_health(northwind, "Exchange", "serviceOperational")
    set_health(contoso, "Teams", "serviceOperational", name="Microsoft Teams")
    set_health(fabrikam, "Teams", "serviceRestored")
    set_health(partner, "Teams", "serviceInterruption")
    set_health(contoso, "Intune", "someFutureStatus", name="Microsoft Intune")
    service("SharePoint", "SharePoint Online")
    response = client_for("helpdesk_agent").get(SERVICES_URL)
    assert response.status_code == 200
    by_id = {row["id"]: row for row in rows(response)}
    assert by_id["Exchange"] == {
        "id": "Exchange",
        "name": "Exchange Online",
        "status": "serviceInterruption",
        "status_label": "Interruption",
        "status_severity": 5,
        "affected_customers": 2,
        "modified_at": by_id["Exchange"]["modified_at"],
    }
    assert by_id["Teams"]["status_severity"] == 0
    assert by_id["Teams"]["affected_customers"] == 0
    # An unknown status is shown as sent and ranks as degraded, never as healthy.
    assert by_id["Intune"]["status"] == by_id["Intune"]["status_label"] == "someFutureStatus"
    assert by_id["Intune"]["status_severity"] == 3
    assert by_id["Intune"]["affected_customers"] == 1
    assert by_id["SharePoint"]["status"] is None
    assert by_id["SharePoint"]["status_severity"] is None
    assert by_id["SharePoint"]["affected_customers"] == 0
    # Ordered for incremental sync: by the last change of the service or of its statuses.
    changes = [row["modified_at"] for row in rows(response)]
    assert changes == sorted(changes)


# --- health -----------------------------------------------------------------------------------


@pytest.mark.parametrize("principal, expected", SUPPORT_READS.items())
def test_health_by_role(principal, expected, client_for):
    set_health(customer_source(), "Exchange", "serviceDegradation")
    response = client_for(principal).get(HEALTH_URL)
    assert response.status_code == expected
    if expected == 200:
        assert len(rows(response)) == 1


def test_health_lists_one_row_per_customer_and_service(client_for):
    source = customer_source("Contoso Ltd")
    since = timezone.now() - timedelta(hours=2)
    set_health(source, "Exchange", "serviceDegradation", since, name="Exchange Online")
    set_health(make_source(), "Exchange", "serviceInterruption")  # the partner's own feed
    response = client_for("helpdesk_agent").get(HEALTH_URL)
    assert response.status_code == 200
    (row,) = rows(response)
    assert row == {
        "customer": {"tenant_id": str(source.customer.tenant_id), "company_name": "Contoso Ltd"},
        "service": {"id": "Exchange", "name": "Exchange Online"},
        "status": "serviceDegradation",
        "status_label": "Degradation",
        "since": row["since"],
        "modified_at": row["since"],
    }
    assert row["since"][:19] == since.isoformat()[:19]


def test_health_filters(client_for, settings):
    # The rows below are fresh: modified_since serves them at once, without the settle window.
    settings.API_SYNC_SETTLE_SECONDS = 0
    contoso, fabrikam = customer_source("Contoso"), customer_source("Fabrikam")
    old = timezone.now() - timedelta(days=2)
    set_health(contoso, "Exchange", "serviceDegradation", old)
    set_health(contoso, "Teams", "serviceOperational")
    set_health(fabrikam, "Exchange", "serviceOperational")
    signed_in = client_for("admin_agent")

    def pairs(**params):
        response = signed_in.get(HEALTH_URL, params)
        assert response.status_code == 200
        return sorted(
            (row["customer"]["company_name"], row["service"]["id"]) for row in rows(response)
        )

    assert pairs(customer=str(contoso.customer.tenant_id)) == [
        ("Contoso", "Exchange"),
        ("Contoso", "Teams"),
    ]
    assert pairs(service="Exchange") == [("Contoso", "Exchange"), ("Fabrikam", "Exchange")]
    assert pairs(status="serviceDegradation") == [("Contoso", "Exchange")]
    since = (timezone.now() - timedelta(days=1)).isoformat()
    assert pairs(modified_since=since) == [("Contoso", "Teams"), ("Fabrikam", "Exchange")]
    assert pairs(service="Exchange", status="serviceOperational") == [("Fabrikam", "Exchange")]
    response = signed_in.get(HEALTH_URL, {"customer": "not-a-tenant"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "customer"


def test_health_pages_through_each_row_once_oldest_first(client_for):
    start = timezone.now() - timedelta(hours=1)
    for n in range(5):
        set_health(customer_source(f"Customer {n}"), "Exchange", "serviceDegradation", start)
    signed_in = client_for("helpdesk_agent")
    since = (start - timedelta(seconds=1)).isoformat()
    response = signed_in.get(HEALTH_URL, {"page_size": 2, "modified_since": since})
    seen = []
    while True:
        assert response.status_code == 200
        seen += [row["customer"]["tenant_id"] for row in rows(response)]
        if not response.json()["next"]:
            break
        response = signed_in.get(response.json()["next"])
    assert len(seen) == len(set(seen)) == 5


# --- feed sources: access ---------------------------------------------------------------------


@pytest.mark.parametrize("principal, expected", ADMIN_ONLY.items())
def test_feed_sources_are_read_by_global_admins_only(principal, expected, client_for):
    source = make_source()
    for url in (SOURCES_URL, f"{SOURCES_URL}{source.pk}/"):
        response = client_for(principal).get(url)
        assert response.status_code == (200 if expected == "ok" else expected), url


@pytest.mark.parametrize("principal, expected", ADMIN_ONLY.items())
def test_feed_sources_are_created_by_global_admins_only(principal, expected, client_for):
    payload = new_source_payload()
    response = client_for(principal).post(SOURCES_URL, payload, content_type="application/json")
    created = FeedSource.objects.filter(tenant_id=payload["tenant_id"]).exists()
    assert_no_canary(response)
    assert_write_answer(response, expected, created)


@pytest.mark.parametrize("principal, expected", ADMIN_ONLY.items())
def test_feed_sources_are_updated_by_global_admins_only(principal, expected, client_for):
    source = make_source(name="Old name")
    response = client_for(principal).patch(
        f"{SOURCES_URL}{source.pk}/", {"name": "New name"}, content_type="application/json"
    )
    source.refresh_from_db()
    assert_write_answer(response, expected, source.name, "New name", "Old name", ok_status=200)


def test_feed_sources_cannot_be_deleted(client_for):
    source = make_source()
    response = client_for("global_admin").delete(f"{SOURCES_URL}{source.pk}/")
    assert response.status_code == 405
    assert FeedSource.objects.filter(pk=source.pk).exists()


def test_a_read_only_token_cannot_write_feed_sources(api_token_for):
    token = api_token_for(Role.GLOBAL_ADMIN, scopes=["read"])
    source = make_source(name="Old name")
    assert Client().get(SOURCES_URL, **bearer(token)).status_code == 200
    payload = new_source_payload()
    response = Client().post(SOURCES_URL, payload, content_type="application/json", **bearer(token))
    assert response.status_code == 403
    assert "write" in response.json()["errors"][0]["detail"]
    assert not FeedSource.objects.filter(tenant_id=payload["tenant_id"]).exists()
    response = Client().patch(
        f"{SOURCES_URL}{source.pk}/",
        {"name": "New name"},
        content_type="application/json",
        **bearer(token),
    )
    assert response.status_code == 403
    source.refresh_from_db()
    assert source.name == "Old name"


def test_a_helpdesk_token_does_not_see_feed_sources(api_token_for):
    token = api_token_for(Role.HELPDESK_AGENT, scopes=["read", "write"])
    make_source()
    assert Client().get(SOURCES_URL, **bearer(token)).status_code == 404


# --- feed sources: the secret -----------------------------------------------------------------


def test_the_client_secret_is_write_only_and_stored_encrypted(client_for):
    customer = CustomerFactory(company_name="Fabrikam")
    signed_in = client_for("global_admin")
    payload = new_source_payload(customer=str(customer.tenant_id))
    del payload["tenant_id"]  # a customer's feed reads the customer's tenant
    response = signed_in.post(SOURCES_URL, payload, content_type="application/json")
    assert response.status_code == 201
    assert_no_canary(response)
    data = response.json()
    assert "client_secret" not in data
    assert data["has_client_secret"] is True
    assert data["customer"] == data["tenant_id"] == str(customer.tenant_id)
    assert data["url"] == f"http://testserver{SOURCES_URL}{data['id']}/"
    source = FeedSource.objects.get(pk=data["id"])
    assert source.client_secret == CANARY
    assert source.client_secret_encrypted
    assert CANARY not in source.client_secret_encrypted
    for url in (SOURCES_URL, f"{SOURCES_URL}{source.pk}/"):
        assert_no_canary(signed_in.get(url))
    entries = AuditEntry.objects.filter(target_type="servicehealth.feedsource")
    assert entries.exists()
    assert all(CANARY not in json.dumps([e.before, e.after, e.target_repr]) for e in entries)


def test_the_secret_is_never_quoted_in_errors(client_for):
    signed_in = client_for("global_admin")
    taken = make_source()
    for overrides in (
        {"poll_interval_seconds": 10},
        {"base_url": "ftp://graph.example/v1.0"},
        {"tenant_id": str(taken.tenant_id)},
        {"client_id": ""},
        {"customer": str(uuid.uuid4())},
    ):
        response = signed_in.post(
            SOURCES_URL, new_source_payload(**overrides), content_type="application/json"
        )
        assert response.status_code == 400, overrides
        assert response.json()["type"] == "validation_error"
        assert_no_canary(response)
    assert FeedSource.objects.count() == 1


def test_a_customer_feed_must_read_the_customers_tenant(client_for):
    customer = CustomerFactory()
    response = client_for("global_admin").post(
        SOURCES_URL,
        new_source_payload(customer=str(customer.tenant_id)),
        content_type="application/json",
    )
    assert response.status_code == 400
    assert {error["attr"] for error in response.json()["errors"]} == {"tenant_id"}
    assert_no_canary(response)
    assert not FeedSource.objects.exists()


def test_a_service_error_quoting_the_secret_is_masked():
    from django.core.exceptions import ValidationError
    from rest_framework import serializers

    from servicehealth.api.serializers import _through_service

    def fails():
        raise ValidationError({"client_id": ValidationError(f"{CANARY} is wrong", code="bad")})

    with pytest.raises(serializers.ValidationError) as raised:
        _through_service(fails, secret=CANARY)
    (error,) = raised.value.detail["client_id"]
    assert CANARY not in str(error)
    assert error.code == "bad"


def test_an_internal_base_url_is_refused(client_for):
    response = client_for("global_admin").post(
        SOURCES_URL,
        new_source_payload(base_url="http://10.0.0.5/v1.0"),
        content_type="application/json",
    )
    assert response.status_code == 400
    assert_no_canary(response)
    assert not FeedSource.objects.exists()


def test_the_secret_is_required_on_create(client_for):
    payload = new_source_payload()
    del payload["client_secret"]
    response = client_for("global_admin").post(
        SOURCES_URL, payload, content_type="application/json"
    )
    assert response.status_code == 400
    assert {error["attr"] for error in response.json()["errors"]} == {"client_secret"}


def test_an_update_keeps_the_secret_unless_a_new_one_is_given(client_for):
    source = make_source(secret=CANARY)
    signed_in = client_for("global_admin")
    url = f"{SOURCES_URL}{source.pk}/"
    response = signed_in.patch(url, {"poll_interval_seconds": 600}, content_type="application/json")
    assert response.status_code == 200
    assert_no_canary(response)
    source.refresh_from_db()
    assert (source.client_secret, source.poll_interval_seconds) == (CANARY, 600)
    response = signed_in.patch(
        url, {"client_secret": "rotated-secret"}, content_type="application/json"
    )
    assert response.status_code == 200
    assert "rotated-secret" not in response.content.decode()
    source.refresh_from_db()
    assert source.client_secret == "rotated-secret"
    audit = json.dumps(
        [[e.before, e.after] for e in AuditEntry.objects.filter(target_id=str(source.pk))]
    )
    assert CANARY not in audit
    assert "rotated-secret" not in audit


def test_state_fields_are_read_only(client_for):
    source = make_source()
    response = client_for("global_admin").patch(
        f"{SOURCES_URL}{source.pk}/",
        {"needs_attention": True, "consecutive_failures": 9, "last_error": "made up"},
        content_type="application/json",
    )
    assert response.status_code == 200
    source.refresh_from_db()
    assert (source.needs_attention, source.consecutive_failures, source.last_error) == (
        False,
        0,
        "",
    )


# --- feed sources: poll now -------------------------------------------------------------------


@pytest.fixture
def queued(monkeypatch):
    """Record the tasks queued instead of publishing them."""
    from core import broker

    calls = []
    monkeypatch.setattr(broker, "send_task", lambda *args: calls.append(args))
    return calls


@pytest.mark.parametrize("principal, expected", ADMIN_ONLY.items())
def test_poll_is_queued_by_global_admins_only(principal, expected, client_for, queued):
    source = make_source()
    response = client_for(principal).post(f"{SOURCES_URL}{source.pk}/poll/")
    polled = [("servicehealth.tasks.poll_source", source.pk)]
    assert_write_answer(response, expected, queued, polled, [], ok_status=202)


def test_a_read_only_token_cannot_queue_a_poll(api_token_for, queued):
    token = api_token_for(Role.GLOBAL_ADMIN, scopes=["read"])
    source = make_source()
    response = Client().post(f"{SOURCES_URL}{source.pk}/poll/", **bearer(token))
    assert response.status_code == 403
    assert queued == []


def test_poll_of_an_unknown_source_is_not_found(client_for, queued):
    response = client_for("global_admin").post(f"{SOURCES_URL}999999/poll/")
    assert response.status_code == 404
    assert queued == []


def test_poll_answers_503_when_the_broker_is_down(client_for, monkeypatch):
    from kombu.exceptions import OperationalError

    from core import broker

    def refuse(*args):
        raise OperationalError("Error 111 connecting to localhost:6379. Connection refused.")

    monkeypatch.setattr(broker, "send_task", refuse)
    source = make_source()
    signed_in = client_for("global_admin")
    # A 5xx is reported like a crash (got_request_exception); the test client would re-raise it.
    signed_in.raise_request_exception = False
    response = signed_in.post(f"{SOURCES_URL}{source.pk}/poll/")
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    body = response.json()
    assert body["type"] == "server_error"
    assert body["errors"][0]["code"] == "service_unavailable"
    assert "6379" not in response.content.decode()


# --- query budgets ----------------------------------------------------------------------------


def _list_queries(list_budget, client, url, add_rows):
    """The queries the list at ``url`` makes, no more with 40 rows than with 5."""
    first, last, queries = list_budget(lambda: client.get(url), add_rows)
    assert len(rows(first)) == 5
    assert len(rows(last)) == 40
    return queries


def test_services_queries_do_not_grow_with_rows(client_for, list_budget):
    sources = [customer_source(f"Customer {n}") for n in range(3)]
    counter = iter(range(1000))

    def add(count):
        for _n in range(count):
            graph_id = f"Service{next(counter):03d}"
            for source in sources:
                set_health(source, graph_id, "serviceDegradation")

    assert _list_queries(list_budget, client_for("helpdesk_agent"), SERVICES_URL, add) <= 12


def test_health_queries_do_not_grow_with_rows(client_for, list_budget):
    counter = iter(range(1000))

    def add(count):
        for _n in range(count):
            set_health(customer_source(f"Customer {next(counter)}"), "Exchange", "investigating")

    assert _list_queries(list_budget, client_for("helpdesk_agent"), HEALTH_URL, add) <= 12


def test_feed_source_queries_do_not_grow_with_rows(client_for, list_budget):
    def add(count):
        for _n in range(count):
            customer_source()

    assert _list_queries(list_budget, client_for("global_admin"), SOURCES_URL, add) <= 12


def test_schema_documents_the_service_health_endpoints(client_for):
    body = schema_text(client_for)
    for path in (
        "/api/v1/services/",
        "/api/v1/health/",
        "/api/v1/feed-sources/",
        "/api/v1/feed-sources/{id}/",
        "/api/v1/feed-sources/{id}/poll/",
    ):
        assert path in body
    assert "writeOnly: true" in body or '"writeOnly": true' in body
