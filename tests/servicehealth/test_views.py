import json
import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from core import broker
from core.models import AuditEntry
from servicehealth.models import FeedSource, TenantServiceHealthChange
from tests.customers.factories import CustomerFactory
from tests.helpers import ADMIN_PAGES, SUPPORT_PAGES, query_counter
from tests.incidents.factories import IncidentFactory
from tests.servicehealth.factories import (
    FeedSourceFactory,
    ServiceFactory,
    TenantServiceHealthFactory,
)

CANARY = "canary-secret-7f3a9c1e-do-not-show"
SUPPORT_ROLES = ["global_admin", "admin_agent", "helpdesk_agent"]


def feed_form_data(**overrides):
    data = {
        "name": "Partner tenant",
        "customer": "",
        "tenant_id": str(uuid.uuid4()),
        "base_url": "http://127.0.0.1:8765/v1.0",
        "token_url": "http://127.0.0.1:8765/{tenant_id}/oauth2/v2.0/token",
        "client_id": "portal-app",
        "client_secret": CANARY,
        "poll_interval_seconds": "300",
        "enabled": "on",
    }
    data.update(overrides)
    return data


def assert_no_canary_anywhere(*responses):
    for response in responses:
        assert CANARY not in response.content.decode()
    for entry in AuditEntry.objects.all():
        dumped = json.dumps([entry.before, entry.after, entry.target_repr])
        assert CANARY not in dumped, entry.action


# --- who may see what ---------------------------------------------------------------------------


@pytest.mark.parametrize("principal, expected", SUPPORT_PAGES)
def test_the_health_dashboard_and_its_json_are_for_support_roles(principal, expected, client_for):
    client = client_for(principal)
    assert client.get(reverse("servicehealth:dashboard")).status_code == expected
    assert client.get(reverse("servicehealth:status")).status_code == expected


@pytest.mark.parametrize("principal, expected", ADMIN_PAGES)
def test_only_global_admins_see_feeds(principal, expected, client_for):
    source = FeedSourceFactory()
    client = client_for(principal)
    assert client.get(reverse("servicehealth:feed_list")).status_code == expected
    assert client.get(reverse("servicehealth:feed_create")).status_code == expected
    assert client.get(reverse("servicehealth:feed_edit", args=[source.pk])).status_code == expected
    if expected == 404:
        response = client.post(
            reverse("servicehealth:feed_edit", args=[source.pk]), feed_form_data()
        )
        assert response.status_code == 404
        assert FeedSource.objects.get().client_secret != CANARY


def test_an_admin_only_action_as_a_helpdesk_agent_is_not_found(client_for, monkeypatch):
    calls = []
    monkeypatch.setattr(broker, "send_task", fake_send_task(calls))
    source = FeedSourceFactory()
    response = client_for("helpdesk_agent").post(
        reverse("servicehealth:feed_poll", args=[source.pk])
    )
    assert response.status_code == 404
    assert calls == []


@pytest.mark.parametrize("principal", ["global_admin", "admin_agent", "helpdesk_agent"])
def test_navigation_links(principal, client_for):
    response = client_for(principal).get(reverse("dashboard:index"))
    urls = {item["url"] for item in response.context["navigation"]}
    assert reverse("servicehealth:dashboard") in urls
    assert reverse("incidents:list") in urls
    assert (reverse("servicehealth:feed_list") in urls) == (principal == "global_admin")


def test_user_management_admins_get_no_health_links(client_for):
    response = client_for("user_management_admin").get(reverse("accounts:profile"))
    urls = {item["url"] for item in response.context["navigation"]}
    assert not urls & {
        reverse("servicehealth:dashboard"),
        reverse("incidents:list"),
        reverse("servicehealth:feed_list"),
    }


# --- feed sources: add, edit, the secret ----------------------------------------------------------


def test_adding_a_feed_source_stores_the_secret_encrypted_and_audits_without_it(client_for, cast):
    admin = client_for("global_admin")
    customer = CustomerFactory(company_name="Fabrikam")
    response = admin.post(
        reverse("servicehealth:feed_create"),
        feed_form_data(name="Fabrikam feed", customer=str(customer.pk), tenant_id=""),
    )
    assert response.status_code == 302, response.context["form"].errors
    source = FeedSource.objects.get()
    assert source.customer == customer
    assert source.tenant_id == customer.tenant_id  # filled in from the customer
    assert source.client_secret == CANARY
    assert CANARY not in source.client_secret_encrypted
    entry = AuditEntry.objects.get(action="feed_source.created")
    assert entry.actor == cast["global_admin"]
    assert entry.after["client_secret"] == "set"
    assert entry.after["customer"] == str(customer.tenant_id)
    listing = admin.get(reverse("servicehealth:feed_list"))
    assert "Fabrikam feed" in listing.content.decode()
    edit = admin.get(reverse("servicehealth:feed_edit", args=[source.pk]))
    assert "Leave empty to keep the current secret." in edit.content.decode()
    assert_no_canary_anywhere(response, listing, edit)


def test_editing_with_an_empty_secret_keeps_it_and_a_new_one_is_marked_changed(client_for):
    source = FeedSourceFactory(client_secret=CANARY, poll_interval_seconds=300)
    admin = client_for("global_admin")
    url = reverse("servicehealth:feed_edit", args=[source.pk])
    data = feed_form_data(
        name="Renamed",
        customer=str(source.customer.pk),
        tenant_id=str(source.tenant_id),
        # The URLs as stored: moving them to another host would need the secret again.
        base_url=source.base_url,
        token_url=source.token_url,
        client_secret="",
        poll_interval_seconds="600",
    )
    kept = admin.post(url, data)
    assert kept.status_code == 302
    source.refresh_from_db()
    assert (source.name, source.poll_interval_seconds) == ("Renamed", 600)
    assert source.client_secret == CANARY
    entry = AuditEntry.objects.get(action="feed_source.updated")
    assert entry.before["client_secret"] == entry.after["client_secret"] == "set"
    assert entry.before["poll_interval_seconds"] == 300
    assert entry.after["poll_interval_seconds"] == 600

    changed = admin.post(url, {**data, "client_secret": "the-next-secret"})
    assert changed.status_code == 302
    source.refresh_from_db()
    assert source.client_secret == "the-next-secret"
    latest = AuditEntry.objects.filter(action="feed_source.updated").first()
    assert (latest.before["client_secret"], latest.after["client_secret"]) == ("set", "changed")
    assert "the-next-secret" not in json.dumps([latest.before, latest.after])
    assert_no_canary_anywhere(kept, changed, admin.get(url))


def test_a_form_with_errors_does_not_render_the_secret_back(client_for):
    response = client_for("global_admin").post(
        reverse("servicehealth:feed_create"), feed_form_data(name="")
    )
    assert response.status_code == 200
    assert "name" in response.context["form"].errors
    assert_no_canary_anywhere(response)
    assert not FeedSource.objects.exists()


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"base_url": "ftp://127.0.0.1/v1.0"}, "base_url"),
        ({"base_url": "http://10.20.30.40/v1.0"}, "base_url"),
        ({"base_url": "http://169.254.169.254/latest"}, "base_url"),
        ({"token_url": "http://10.0.0.1/{tenant_id}/token"}, "token_url"),
        ({"token_url": "http://127.0.0.1/{tenant}/token"}, "token_url"),
        ({"token_url": "file:///etc/passwd"}, "token_url"),
        ({"tenant_id": "not-a-guid"}, "tenant_id"),
        ({"tenant_id": ""}, "tenant_id"),
        ({"poll_interval_seconds": "30"}, "poll_interval_seconds"),
        ({"client_secret": ""}, "client_secret"),
        ({"client_id": ""}, "client_id"),
    ],
)
def test_bad_input_gets_a_field_error_and_writes_nothing(overrides, field, client_for):
    response = client_for("global_admin").post(
        reverse("servicehealth:feed_create"), feed_form_data(**overrides)
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert field in errors, errors
    assert not FeedSource.objects.exists()
    assert not AuditEntry.objects.filter(action__startswith="feed_source.").exists()
    assert_no_canary_anywhere(response)


def test_a_customer_feed_must_read_that_customers_tenant(client_for):
    customer = CustomerFactory()
    response = client_for("global_admin").post(
        reverse("servicehealth:feed_create"),
        feed_form_data(customer=str(customer.pk), tenant_id=str(uuid.uuid4())),
    )
    assert response.status_code == 200
    assert "tenant_id" in response.context["form"].errors
    assert not FeedSource.objects.exists()


def test_a_tenant_has_one_feed_source(client_for):
    existing = FeedSourceFactory()
    response = client_for("global_admin").post(
        reverse("servicehealth:feed_create"),
        feed_form_data(customer=str(existing.customer.pk), tenant_id=str(existing.tenant_id)),
    )
    assert response.status_code == 200
    assert "tenant_id" in response.context["form"].errors
    assert FeedSource.objects.count() == 1


def test_editing_to_an_internal_url_is_refused(client_for):
    source = FeedSourceFactory()
    response = client_for("global_admin").post(
        reverse("servicehealth:feed_edit", args=[source.pk]),
        feed_form_data(
            customer=str(source.customer.pk),
            tenant_id=str(source.tenant_id),
            base_url="http://192.168.1.10/v1.0",
            client_secret="",
        ),
    )
    assert response.status_code == 200
    assert "base_url" in response.context["form"].errors
    source.refresh_from_db()
    assert source.base_url == "http://127.0.0.1:9/v1.0"


def test_the_feed_list_shows_state_and_needs_attention(client_for):
    now = timezone.now()
    FeedSourceFactory(
        customer=None,
        name="Partner tenant",
        last_success_at=now - timedelta(minutes=4),
        next_poll_at=now + timedelta(minutes=1),
    )
    FeedSourceFactory(
        customer__company_name="Broken Co",
        name="Broken Co feed",
        last_error="401 invalid_client: the client secret has expired",
        last_error_at=now - timedelta(minutes=2),
        consecutive_failures=3,
        needs_attention=True,
    )
    page = client_for("global_admin").get(reverse("servicehealth:feed_list")).content.decode()
    assert "Partner tenant" in page
    assert "Broken Co" in page
    assert "the client secret has expired" in page
    assert "Needs attention" in page
    assert page.count(">Poll now<") == 2


# --- poll now -------------------------------------------------------------------------------------


def fake_send_task(calls, error=None):
    """``broker.send_task`` that records what it is asked to queue, or raises ``error``."""

    def send_task(*args):
        if error:
            raise error
        calls.append(args)

    return send_task


def test_poll_now_queues_the_source(client_for, monkeypatch):
    calls = []
    monkeypatch.setattr(broker, "send_task", fake_send_task(calls))
    source = FeedSourceFactory(name="Contoso feed")
    response = client_for("global_admin").post(
        reverse("servicehealth:feed_poll", args=[source.pk]), follow=True
    )
    assert calls == [("servicehealth.tasks.poll_source", source.pk)]
    assert "Polling Contoso feed now" in response.content.decode()


def test_poll_now_with_the_broker_down_says_so_and_changes_nothing(client_for, monkeypatch):
    calls = []
    monkeypatch.setattr(broker, "send_task", fake_send_task(calls, ConnectionError("broker down")))
    source = FeedSourceFactory()
    before = FeedSource.objects.values().get(pk=source.pk)
    response = client_for("global_admin").post(
        reverse("servicehealth:feed_poll", args=[source.pk]), follow=True
    )
    assert response.status_code == 200
    assert "background workers cannot be reached" in response.content.decode()
    assert FeedSource.objects.values().get(pk=source.pk) == before


def test_poll_now_refuses_a_disabled_source(client_for, monkeypatch):
    calls = []
    monkeypatch.setattr(broker, "send_task", fake_send_task(calls))
    source = FeedSourceFactory(enabled=False)
    response = client_for("global_admin").post(
        reverse("servicehealth:feed_poll", args=[source.pk]), follow=True
    )
    assert calls == []
    assert "switched off" in response.content.decode()


# --- the dashboard --------------------------------------------------------------------------------


def status_rows(client):
    response = client.get(reverse("servicehealth:status"))
    assert response.status_code == 200
    return {row["name"]: row for row in response.json()["services"]}


def test_the_dashboard_json_has_the_worst_status_and_affected_customers(client_for):
    exchange = ServiceFactory(graph_id="Exchange", name="Exchange Online")
    teams = ServiceFactory(graph_id="microsoftteams", name="Microsoft Teams")
    sharepoint = ServiceFactory(graph_id="SharePoint", name="SharePoint Online")
    ServiceFactory(graph_id="Intune", name="Microsoft Intune")
    one, two, three = FeedSourceFactory(), FeedSourceFactory(), FeedSourceFactory()
    partner = FeedSourceFactory(customer=None)
    switched_off = FeedSourceFactory(enabled=False)
    TenantServiceHealthFactory(source=one, service=exchange, status="serviceDegradation")
    TenantServiceHealthFactory(source=two, service=exchange, status="serviceInterruption")
    TenantServiceHealthFactory(source=three, service=exchange, status="serviceOperational")
    TenantServiceHealthFactory(source=one, service=teams, status="investigating")
    TenantServiceHealthFactory(source=two, service=teams, status="somethingNewFromGraph")
    # The partner's own tenant counts for the worst status but is no customer.
    TenantServiceHealthFactory(source=partner, service=sharepoint, status="serviceDegradation")
    TenantServiceHealthFactory(source=one, service=sharepoint, status="serviceRestored")
    # A switched-off source's data is stale: left out.
    TenantServiceHealthFactory(
        source=switched_off, service=sharepoint, status="serviceInterruption"
    )
    IncidentFactory(service="Exchange Online")
    IncidentFactory(service="Exchange Online")
    IncidentFactory(service="Exchange Online", is_resolved=True)
    IncidentFactory(service="Microsoft Teams")

    rows = status_rows(client_for("helpdesk_agent"))
    assert rows["Exchange Online"]["status"] == "serviceInterruption"
    assert rows["Exchange Online"]["level"] == "danger"
    assert rows["Exchange Online"]["affected_customers"] == 2
    assert rows["Exchange Online"]["active_incidents"] == 2
    assert rows["Microsoft Teams"]["status"] == "somethingNewFromGraph"  # unknown: shown as sent
    assert rows["Microsoft Teams"]["status_label"] == "somethingNewFromGraph"
    assert rows["Microsoft Teams"]["affected_customers"] == 2
    assert rows["Microsoft Teams"]["active_incidents"] == 1
    assert rows["SharePoint Online"]["status"] == "serviceDegradation"
    assert rows["SharePoint Online"]["affected_customers"] == 0
    assert rows["Microsoft Intune"]["status"] is None
    assert rows["Microsoft Intune"]["affected_customers"] == 0
    assert rows["Microsoft Intune"]["incidents_url"].startswith(reverse("incidents:list"))
    # Worst first.
    assert list(rows)[0] == "Exchange Online"


def test_a_customer_with_two_unhealthy_sources_counts_once(client_for):
    exchange = ServiceFactory(graph_id="Exchange", name="Exchange Online")
    customer = CustomerFactory()
    first = FeedSourceFactory(customer=customer)
    second = FeedSourceFactory(customer=customer, tenant_id=uuid.uuid4())
    TenantServiceHealthFactory(source=first, service=exchange, status="serviceDegradation")
    TenantServiceHealthFactory(source=second, service=exchange, status="investigating")
    assert status_rows(client_for("admin_agent"))["Exchange Online"]["affected_customers"] == 1


def test_the_dashboard_page_renders_rows_and_loads_its_script(client_for):
    exchange = ServiceFactory(graph_id="Exchange", name="Exchange <Online>")
    TenantServiceHealthFactory(service=exchange, status="serviceDegradation")
    FeedSourceFactory(consecutive_failures=2, last_error="timeout")
    response = client_for("helpdesk_agent").get(reverse("servicehealth:dashboard"))
    page = response.content.decode()
    assert "Exchange &lt;Online&gt;" in page
    assert "Degradation" in page
    assert 'src="/static/js/health.js"' in page
    assert reverse("servicehealth:status") in page
    assert "<script>" not in page  # no inline script: the CSP forbids it
    assert "1 feed source is failing" in page
    assert reverse("servicehealth:feed_list") not in page  # helpdesk agents cannot open it


def test_dashboard_json_queries_do_not_grow_with_services_or_customers(client_for):
    count_queries = query_counter(client_for("helpdesk_agent"), reverse("servicehealth:status"))

    services = [ServiceFactory() for _ in range(2)]
    for service in services:
        TenantServiceHealthFactory(service=service, status="serviceDegradation")
    IncidentFactory(service=services[0].name)
    few, _response = count_queries()
    services += [ServiceFactory() for _ in range(18)]
    sources = [FeedSourceFactory() for _ in range(10)]
    for source in sources:
        for service in services:
            TenantServiceHealthFactory(source=source, service=service, status="investigating")
    for service in services:
        IncidentFactory(service=service.name)
    many, response = count_queries()
    assert len(response.json()["services"]) == 20
    assert many == few


# --- the home dashboard card and the customer's Health tab ----------------------------------------


def test_the_home_dashboard_shows_incidents_and_failing_feeds(client_for):
    hit = [CustomerFactory() for _ in range(3)]
    from tests.incidents.factories import AffectedCustomerFactory

    newest = IncidentFactory(title="Newest", last_modified_at=timezone.now())
    older = IncidentFactory(title="Older", last_modified_at=timezone.now() - timedelta(hours=1))
    IncidentFactory(title="Oldest", last_modified_at=timezone.now() - timedelta(hours=2))
    IncidentFactory(title="Fourth", last_modified_at=timezone.now() - timedelta(hours=3))
    IncidentFactory(title="Resolved", is_resolved=True)
    AffectedCustomerFactory(incident=newest, customer=hit[0])
    AffectedCustomerFactory(incident=newest, customer=hit[1])
    AffectedCustomerFactory(incident=older, customer=hit[1])
    AffectedCustomerFactory(incident=older, customer=hit[2])

    helpdesk = client_for("helpdesk_agent").get(reverse("dashboard:index"))
    summary = helpdesk.context["incident_summary"]
    assert summary["incidents"] == 4
    assert summary["customers"] == 3
    assert [incident.title for incident in summary["recent"]] == ["Newest", "Older", "Oldest"]
    page = helpdesk.content.decode()
    assert newest.get_absolute_url() in page
    assert "feed source is failing" not in page

    FeedSourceFactory(consecutive_failures=1, last_error="timeout")
    page = client_for("helpdesk_agent").get(reverse("dashboard:index")).content.decode()
    assert "1 feed source is failing" in page
    assert reverse("servicehealth:feed_list") not in page
    admin_page = client_for("global_admin").get(reverse("dashboard:index")).content.decode()
    assert "1 feed source is failing" in admin_page
    assert reverse("servicehealth:feed_list") in admin_page


def test_the_customer_health_tab_shows_statuses_changes_and_a_failing_feed(client_for):
    source = FeedSourceFactory(
        last_success_at=timezone.now() - timedelta(hours=2),
        last_error="403 Authorization_RequestDenied: consent is missing",
        last_error_at=timezone.now() - timedelta(minutes=5),
        consecutive_failures=4,
        needs_attention=True,
    )
    exchange = ServiceFactory(graph_id="Exchange", name="Exchange Online")
    teams = ServiceFactory(graph_id="microsoftteams", name="Microsoft Teams")
    TenantServiceHealthFactory(source=source, service=exchange, status="serviceOperational")
    TenantServiceHealthFactory(source=source, service=teams, status="serviceDegradation")
    TenantServiceHealthChange.objects.create(
        source=source,
        service=teams,
        previous_status="serviceOperational",
        status="serviceDegradation",
    )
    # Another customer's data stays on its own page.
    other = TenantServiceHealthFactory(status="serviceInterruption")
    url = source.customer.get_absolute_url()
    response = client_for("helpdesk_agent").get(url, {"tab": "health"})
    page = response.content.decode()
    assert [row.service.name for row in response.context["health"]] == [
        "Microsoft Teams",
        "Exchange Online",
    ]
    assert "Degradation" in page
    assert len(response.context["health_changes"]) == 1
    assert "Reading this tenant's health from Microsoft is failing" in page
    assert "consent is missing" in page
    assert "4 polls have failed since the last successful one" in page
    assert other.service.name not in page
    assert reverse("servicehealth:feed_edit", args=[source.pk]) not in page
    admin_page = client_for("global_admin").get(url, {"tab": "health"}).content.decode()
    assert reverse("servicehealth:feed_edit", args=[source.pk]) in admin_page


def test_a_customer_without_a_feed_source_says_so(client_for):
    customer = CustomerFactory()
    page = client_for("global_admin").get(customer.get_absolute_url(), {"tab": "health"})
    text = page.content.decode()
    assert "No feed source reads this customer" in text
    assert f"{reverse('servicehealth:feed_create')}?customer={customer.tenant_id}" in text
    form = client_for("global_admin").get(
        reverse("servicehealth:feed_create"), {"customer": str(customer.tenant_id)}
    )
    assert form.context["form"].initial["customer"] == customer


def test_the_add_form_offers_microsofts_urls(client_for):
    form = client_for("global_admin").get(reverse("servicehealth:feed_create")).context["form"]
    assert form["base_url"].value() == "https://graph.microsoft.com/v1.0"
    assert form["token_url"].value().startswith("https://login.microsoftonline.com/{tenant_id}/")
    assert form["poll_interval_seconds"].value() == 300


def test_a_source_without_a_stored_secret_asks_for_one_on_edit(client_for):
    source = FeedSourceFactory()
    FeedSource.objects.filter(pk=source.pk).update(client_secret_encrypted="")
    response = client_for("global_admin").post(
        reverse("servicehealth:feed_edit", args=[source.pk]),
        feed_form_data(
            customer=str(source.customer.pk), tenant_id=str(source.tenant_id), client_secret=""
        ),
    )
    assert response.status_code == 200
    assert "client_secret" in response.context["form"].errors
