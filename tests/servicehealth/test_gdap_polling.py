"""Health for every customer through the partner's Microsoft connection (GDAP): sources made
without anyone typing them, tokens redeemed per customer tenant, and the R5-style faults of a
delegated source, all over real HTTP to the Entra ID and Graph simulators on loopback."""

import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from incidents.models import AffectedCustomer, Incident, IncidentPost
from microsoft.models import MicrosoftConnection
from microsoft.services import clear_access_tokens
from outbound.graph import GraphError
from servicehealth import connection_sources, cycles, feeds, polling
from servicehealth.models import (
    AccessProblem,
    AuthMode,
    FeedSource,
    PollCycle,
    TenantServiceHealth,
    TenantServiceHealthChange,
)
from simulators.graph import GraphSimulator, PartnerTenant
from simulators.http import SimulatorServer
from simulators.service_health import scenarios as service_health_scenarios
from tests.customers.factories import CustomerFactory
from tests.microsoft.helpers import connect

ISSUES = "/v1.0/admin/serviceAnnouncement/issues"
OVERVIEWS = "/v1.0/admin/serviceAnnouncement/healthOverviews"
NO_GDAP = (50020, "User account from identity provider does not exist in tenant.")
NO_CONSENT = (65001, "The user or administrator has not consented to use the application.")
NEEDS_ROLE = "No access: needs the Service Support Administrator or Global Reader role"


def exchange_incident(simulator, customer, issue_id="EX500001", steps=2):
    t0 = datetime.now(UTC) - timedelta(hours=1)
    simulator.add_issue(
        issue_id,
        service_id="Exchange",
        title="Mail delayed",
        impact_description="Users may see delays.",
        steps=[
            (t0 + timedelta(minutes=10 * n), "serviceDegradation", f"Update {n}")
            for n in range(steps)
        ],
        tenant_ids=[str(customer.tenant_id)],
    )


def poll(source, **client_kwargs):
    client_kwargs.setdefault("sleep", lambda seconds: None)
    source = FeedSource.objects.get(pk=source.pk)
    return polling.poll(source.pk, client=feeds.client_for(source, **client_kwargs))


def make_due(source):
    FeedSource.objects.filter(pk=source.pk).update(next_poll_at=timezone.now())


def data_state():
    """Every row a poll may write, as comparable values."""
    return (
        sorted(Incident.objects.values_list("microsoft_id", "status", "modified_at")),
        sorted(IncidentPost.objects.values_list("incident_id", "fingerprint")),
        sorted(AffectedCustomer.objects.values_list("incident_id", "customer_id")),
        sorted(TenantServiceHealth.objects.values_list("source_id", "service_id", "status")),
        TenantServiceHealthChange.objects.count(),
    )


def token_requests(entra, tenant_id):
    return [r for r in entra.requests if r[1] == f"/{tenant_id}/oauth2/v2.0/token"]


def delegated_source(customer):
    connection_sources.add_missing()
    return FeedSource.objects.get(customer=customer)


def test_every_customer_the_connection_reaches_gets_a_delegated_source(gdap_health):
    simulator, entra, add_customer = gdap_health
    first, second = add_customer(), add_customer()
    hand_added = CustomerFactory()
    FeedSource.objects.create(
        name="By hand",
        customer=hand_added,
        tenant_id=hand_added.tenant_id,
        client_id="own-app",
        client_secret_encrypted="x",
    )
    assert connection_sources.add_missing() == 2
    assert connection_sources.add_missing() == 0
    sources = FeedSource.objects.through_connection()
    assert {s.customer for s in sources} == {first, second}
    assert {s.auth_mode for s in sources} == {AuthMode.DELEGATED}
    assert all(s.client_id == "" and not s.client_secret_encrypted for s in sources)
    assert FeedSource.objects.get(customer=hand_added).auth_mode == AuthMode.CLIENT_CREDENTIALS

    exchange_incident(simulator, first)
    summary = poll(FeedSource.objects.get(customer=first))
    assert summary.incidents_created == 1
    assert AffectedCustomer.objects.get().customer == first
    # The partner's refresh token was redeemed in the customer's own tenant, for Graph.
    assert len(token_requests(entra, first.tenant_id)) == 1
    tenant_calls = simulator.requests_by_tenant(first.tenant_id)
    assert {r[1] for r in tenant_calls} >= {OVERVIEWS, ISSUES}


def test_no_source_is_made_before_the_connection_is_ready(gdap_health):
    _simulator, _entra, add_customer = gdap_health
    add_customer()
    MicrosoftConnection.objects.update(state=MicrosoftConnection.State.BROKEN)
    assert connection_sources.add_missing() == 0
    assert not FeedSource.objects.exists()


def test_a_re_poll_that_learns_nothing_writes_nothing(gdap_health):
    simulator, _entra, add_customer = gdap_health
    customer = add_customer()
    exchange_incident(simulator, customer)
    source = delegated_source(customer)
    poll(source)
    before = data_state()
    make_due(source)
    summary = poll(source)
    assert (summary.incidents_unchanged, summary.posts_added, summary.events) == (1, 0, 0)
    assert data_state() == before
    # Incremental where Graph takes the filter.
    filters = [r[2].get("$filter") for r in simulator.requests if r[1] == ISSUES]
    assert filters[0] is None and filters[-1][0].startswith("lastModifiedDateTime gt ")


def test_app_only_per_customer_tenant_uses_the_partners_app_in_that_tenant(gdap_health):
    simulator, entra, add_customer = gdap_health
    customer = add_customer()
    exchange_incident(simulator, customer)
    source = delegated_source(customer)
    FeedSource.objects.filter(pk=source.pk).update(auth_mode=AuthMode.APP_PER_TENANT)
    # Client credentials of the partner's multi-tenant app, at the simulator's token route.
    MicrosoftConnection.objects.update(login_url=simulator.base_url)
    summary = poll(source)
    assert summary.incidents_created == 1
    grants = [r for r in simulator.requests if r[0] == "POST"]
    assert [g[1] for g in grants] == [f"/{customer.tenant_id}/oauth2/v2.0/token"]
    assert token_requests(entra, customer.tenant_id) == []


# --- faults of a delegated source (R5) ------------------------------------------------------


def refuse_role(simulator, entra, customer):
    simulator.refuse_tenant(customer.tenant_id, code="Authorization_RequestDenied")
    return lambda: simulator.admit_tenant(customer.tenant_id)


def refuse_in_entra(refusal):
    def script(simulator, entra, customer):
        entra.add_customer_tenant(str(customer.tenant_id), refusal=refusal)
        # The tenant's held token has run out: the next poll redeems again and is refused.
        clear_access_tokens()
        return lambda: entra.add_customer_tenant(str(customer.tenant_id))

    return script


def throttle(simulator, entra, customer):
    simulator.fail_next(OVERVIEWS, 429, headers={"Retry-After": "120"})
    return lambda: None


@pytest.mark.parametrize(
    "fault, problem, shown",
    [
        (refuse_role, AccessProblem.NEEDS_ROLE, NEEDS_ROLE),
        (refuse_in_entra(NO_GDAP), AccessProblem.NEEDS_ROLE, NEEDS_ROLE),
        (refuse_in_entra(NO_CONSENT), AccessProblem.NEEDS_CONSENT, "Needs consent"),
        (throttle, AccessProblem.NONE, "Graph asks to wait"),
    ],
    ids=["403-no-role", "entra-no-gdap", "entra-no-consent", "429-retry-after"],
)
def test_a_refused_or_throttled_poll_changes_nothing_is_shown_and_the_next_is_clean(
    fault, problem, shown, gdap_health, client_for
):
    simulator, entra, add_customer = gdap_health
    customer = add_customer(company_name="Northwind")
    exchange_incident(simulator, customer)
    source = delegated_source(customer)
    poll(source)
    watermark = FeedSource.objects.get(pk=source.pk).issues_watermark
    # News the faulty poll would have written.
    exchange_incident(simulator, customer, issue_id="EX500002")
    before = data_state()
    clear = fault(simulator, entra, customer)
    make_due(source)
    started = timezone.now()
    with pytest.raises(GraphError):
        poll(source)
    assert data_state() == before
    source.refresh_from_db()
    assert source.issues_watermark == watermark
    assert source.access_problem == problem
    assert source.consecutive_failures == 1 and source.last_error
    if fault is throttle:
        # Retry-After is longer than a poll may wait: the next poll comes after it, not before.
        assert source.next_poll_at >= started + timedelta(seconds=120)
        assert not source.needs_attention
    else:
        assert source.needs_attention
    # Never silent: the Feeds page, the customer's list row and its health tab say it.
    admin = client_for("global_admin")
    assert shown in admin.get(reverse("servicehealth:feed_list")).content.decode()
    if problem:
        assert shown in admin.get(reverse("customers:list")).content.decode()
    detail = admin.get(customer.get_absolute_url() + "?tab=health").content.decode()
    assert source.last_error in detail.replace("&#x27;", "'")
    if problem:
        assert shown in detail
    # The fault clears: the next poll gives exactly the clean result.
    clear()
    make_due(source)
    summary = poll(source)
    assert summary.incidents_created == 1
    source.refresh_from_db()
    assert (source.access_problem, source.last_error, source.consecutive_failures) == ("", "", 0)
    assert set(Incident.objects.values_list("microsoft_id", flat=True)) == {"EX500001", "EX500002"}


def test_a_401_fetches_a_new_token_and_the_poll_succeeds(gdap_health):
    simulator, entra, add_customer = gdap_health
    customer = add_customer()
    exchange_incident(simulator, customer)
    source = delegated_source(customer)
    simulator.fail_next(OVERVIEWS, 401)
    summary = poll(source)
    assert summary.incidents_created == 1
    assert len(token_requests(entra, customer.tenant_id)) == 2
    source.refresh_from_db()
    assert source.last_success_at and not source.last_error and not source.access_problem


def test_a_broken_connection_needs_consent_and_changes_nothing(gdap_health):
    simulator, entra, add_customer = gdap_health
    customer = add_customer()
    exchange_incident(simulator, customer)
    source = delegated_source(customer)
    MicrosoftConnection.objects.update(state=MicrosoftConnection.State.BROKEN)
    with pytest.raises(GraphError):
        poll(source)
    assert not Incident.objects.exists()
    source.refresh_from_db()
    assert source.access_problem == AccessProblem.NEEDS_CONSENT
    assert simulator.requests_by_tenant(customer.tenant_id) == []


# --- limits and cycles ------------------------------------------------------------------------


def test_a_tenant_gets_no_more_requests_an_hour_than_its_budget(gdap_health, settings):
    simulator, _entra, add_customer = gdap_health
    customer = add_customer()
    source = delegated_source(customer)
    settings.GRAPH_REQUESTS_PER_HOUR = 3
    poll(source)  # two requests: the overviews and the issues
    make_due(source)
    with pytest.raises(GraphError, match="3 a hour"):
        poll(source)
    assert len(simulator.requests_by_tenant(customer.tenant_id)) == 3
    source.refresh_from_db()
    assert source.next_poll_at > timezone.now()


def test_the_feeds_page_says_how_long_the_last_full_cycle_took(gdap_health, client_for):
    _simulator, _entra, add_customer = gdap_health
    first, second = add_customer(), add_customer()
    connection_sources.add_missing()
    cycle = cycles.start_if_due()
    assert cycle.started_at is not None and cycle.sources == 2
    poll(FeedSource.objects.get(customer=first))
    assert PollCycle.get().last_finished_at is None  # one of two finished
    page = client_for("global_admin").get(reverse("servicehealth:feed_list")).content.decode()
    assert "1 of 2 sources polled" in page
    second_source = FeedSource.objects.get(customer=second)
    poll(second_source)
    cycle = PollCycle.get()
    assert cycle.started_at is None
    assert cycle.last_sources == 2 and cycle.last_failures == 0
    assert cycle.last_started_at <= cycle.last_finished_at
    assert cycle.last_finished_at == FeedSource.objects.get(pk=second_source.pk).last_finished_at
    page = client_for("global_admin").get(reverse("servicehealth:feed_list")).content.decode()
    assert "Last full cycle" in page


def test_make_runs_graph_host_serves_health_through_the_connection_and_gdap(db, entra_simulator):
    """run_simulators' wiring: one Graph host for service communications (the connection's
    tokens, redeemed by the Entra ID simulator) and, behind it, the GDAP simulator."""
    customer = CustomerFactory()
    tenants = ["7b0c1f4e-2a5d-4c8b-9e3f-1d6a8b4c2e90", str(customer.tenant_id)]
    entra_simulator.add_customer_tenant(tenants[1])
    gdap = GraphSimulator(PartnerTenant(tenants[0], "demo-app", "demo-secret"))
    health = service_health_scenarios.demo(tenants, entra=entra_simulator, other_graph=gdap)
    with SimulatorServer(health) as server:
        connect(entra_simulator, graph_url=server.url)
        summary = poll(delegated_source(customer))
        assert summary.incidents_created > 0
        assert gdap.base_url == server.url  # GDAP's links point at the one host
        gdap_path = "/v1.0/tenantRelationships/delegatedAdminRelationships"
        with pytest.raises(urllib.error.HTTPError) as unauthenticated:
            urllib.request.urlopen(server.url + gdap_path, timeout=5)
        assert unauthenticated.value.code == 401  # GDAP's own answer: no token
        assert [r[1] for r in gdap.requests] == [gdap_path]
