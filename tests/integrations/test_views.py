"""Integrations pages (Global admins): webhook subscriptions with secrets shown once, the delivery
log, test events and redelivery, PSA connections; each customer's PSA company ids.

Deliveries are sent over real HTTP to the PSA receiver simulator on loopback.
"""

import re
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from core.models import AuditEntry, EventTypeChoices
from integrations import delivery, services
from integrations.fanout import create_test_delivery
from integrations.models import (
    PsaCompanyMapping,
    PsaConnection,
    WebhookDelivery,
    WebhookSubscription,
)
from tests.customers.factories import CustomerFactory
from tests.integrations.helpers import SECRET, webhook_form_data

pytestmark = pytest.mark.django_db

AUTH_CANARY = "canary-token-5e1f-do-not-show"
LIST_URL = reverse("integrations:webhook_list")
CREATE_URL = reverse("integrations:webhook_create")


@pytest.fixture
def signed_in(client_for):
    return client_for("global_admin")


def subscribe(admin, url, **data):
    subscription, _secret = services.create_subscription(
        actor=admin,
        data={
            "name": data.pop("name", f"PSA {uuid.uuid4().hex[:6]}"),
            "target_url": url,
            "event_types": data.pop("event_types", list(EventTypeChoices.values)),
            **data,
        },
        secret=SECRET,
        auth_secret=data.pop("auth_secret", ""),
    )
    return subscription


def field_errors(response):
    form = response.context["form"]
    return {field: [str(e) for e in errors] for field, errors in form.errors.items()}


def detail_url(subscription):
    return reverse("integrations:webhook_detail", args=[subscription.pk])


def delivery_url(test):
    return reverse("integrations:delivery_detail", args=[test.subscription_id, test.pk])


# --- pages render with real data --------------------------------------------------------------


def test_every_page_renders_for_a_global_admin(admin, signed_in, receiver):
    psa = PsaConnection.objects.create(name="HaloPSA", kind="halopsa", default_company_id="77")
    customer = CustomerFactory(company_name="Contoso Ltd")
    services.set_company_ids(customer, actor=admin, company_ids={psa: "C-19"})
    subscription = subscribe(admin, receiver.base_url, name="Halo tickets", psa=psa)
    test = services.send_test_event(subscription, actor=admin)
    delivery.deliver(test.pk)

    listing = signed_in.get(LIST_URL).content.decode()
    assert "Halo tickets" in listing and "HaloPSA" in listing and "All events" in listing
    page = signed_in.get(detail_url(subscription)).content.decode()
    assert "webhook.test" in page and "Send test event" in page
    assert re.search(r"\d+ ms", page)  # the duration of the last attempt
    shown = signed_in.get(delivery_url(test)).content.decode()
    assert test.message_id in shown and "ticket_id" in shown  # the receiver's answer
    edit = signed_in.get(reverse("integrations:webhook_edit", args=[subscription.pk]))
    assert edit.status_code == 200 and "Halo tickets" in edit.content.decode()
    assert signed_in.get(CREATE_URL).status_code == 200
    psas = signed_in.get(reverse("integrations:psa_list")).content.decode()
    assert "HaloPSA" in psas and "<code>77</code>" in psas
    assert signed_in.get(reverse("integrations:psa_edit", args=[psa.pk])).status_code == 200
    companies = signed_in.get(
        reverse("integrations:customer_psa_companies", args=[customer.tenant_id])
    )
    assert 'value="C-19"' in companies.content.decode()


def test_the_navigation_has_webhooks_and_psa_connections_for_global_admins(client_for):
    def links(principal):
        response = client_for(principal).get(reverse("accounts:profile"))
        return {item["url"] for item in response.context["navigation"]}

    wanted = {LIST_URL, reverse("integrations:psa_list")}
    assert wanted <= links("global_admin")
    assert not wanted & links("admin_agent")


# --- the subscription form ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"target_url": "not a url"}, "target_url", "Enter an http or https URL."),
        ({"target_url": "ftp://127.0.0.1/x"}, "target_url", "Enter an http or https URL."),
        ({"event_types": []}, "event_types", "Choose at least one event."),
        (
            {"auth_type": "basic", "auth_secret": "pw"},
            "auth_username",
            "Basic authentication needs a user name.",
        ),
        (
            {"auth_type": "bearer"},
            "auth_secret",
            "Enter the password or token the receiver expects.",
        ),
        ({"secret": "plain-text-secret"}, "secret", "starts with whsec_"),
        ({"customers": "nobody.example"}, "customers", "nobody.example"),
    ],
)
def test_form_errors_are_shown_next_to_their_field(signed_in, overrides, field, message):
    response = signed_in.post(CREATE_URL, webhook_form_data(**overrides))
    assert response.status_code == 200
    errors = field_errors(response)
    assert list(errors) == [field]
    assert message in errors[field][0]
    assert WebhookSubscription.objects.count() == 0


def test_a_loopback_url_is_refused_when_not_allowed(signed_in, settings):
    settings.OUTBOUND_URL_ALLOWLIST = []
    response = signed_in.post(
        CREATE_URL, webhook_form_data(target_url="http://127.0.0.1:8004/hook")
    )
    assert field_errors(response) == {
        "target_url": ["The host 127.0.0.1 points to an internal address."]
    }
    settings.OUTBOUND_URL_ALLOWLIST = ["127.0.0.1"]
    response = signed_in.post(
        CREATE_URL, webhook_form_data(target_url="http://127.0.0.1:8004/hook")
    )
    assert response.status_code == 200 and "form" not in response.context


def test_the_signing_secret_is_shown_once_and_signs(signed_in, receiver):
    response = signed_in.post(CREATE_URL, webhook_form_data(target_url=receiver.base_url))
    assert response.status_code == 200
    secret = response.context["secret"]
    assert secret.startswith("whsec_") and secret in response.content.decode()
    subscription = WebhookSubscription.objects.get(name="ConnectWise tickets")
    assert subscription.secret == secret
    assert subscription.event_types == ["incident.created", "incident.resolved"]
    assert secret not in subscription.secret_encrypted  # encrypted at rest
    # Never again: not on its page, its edit page, or the list.
    for url in (
        detail_url(subscription),
        reverse("integrations:webhook_edit", args=[subscription.pk]),
        LIST_URL,
    ):
        assert secret not in signed_in.get(url).content.decode()
    # The secret shown is the one deliveries are signed with.
    receiver.secrets = [secret]
    test = create_test_delivery(subscription)
    assert delivery.deliver(test.pk) == "delivered"
    assert receiver.deliveries[-1].signature_valid is True
    assert AuditEntry.objects.filter(action="webhook.created").count() == 1


def test_a_signing_secret_can_be_given(signed_in):
    response = signed_in.post(CREATE_URL, webhook_form_data(secret=SECRET))
    assert response.context["secret"] == SECRET
    assert WebhookSubscription.objects.get().secret == SECRET


def test_customers_are_typed_as_tenant_ids_or_domains(signed_in, admin):
    contoso = CustomerFactory(default_domain="contoso.example")
    fabrikam = CustomerFactory()
    CustomerFactory()
    text = f"Contoso.example\n{fabrikam.tenant_id}, contoso.example"
    signed_in.post(CREATE_URL, webhook_form_data(customers=text))
    subscription = WebhookSubscription.objects.get()
    assert set(subscription.customers.all()) == {contoso, fabrikam}
    # The edit form shows them back as domains; saving it unchanged keeps them.
    edit_url = reverse("integrations:webhook_edit", args=[subscription.pk])
    form = signed_in.get(edit_url).context["form"]
    shown = form["customers"].value()
    assert sorted(form.fields["customers"].prepare_value(shown).split()) == sorted(
        [contoso.default_domain, fabrikam.default_domain]
    )
    signed_in.post(
        edit_url,
        webhook_form_data(customers=form.fields["customers"].prepare_value(shown)),
    )
    assert set(subscription.customers.all()) == {contoso, fabrikam}


def test_editing_keeps_a_stored_password_when_left_empty(signed_in, admin):
    subscription = subscribe(
        admin,
        "http://127.0.0.1:9/hook",
        auth_type="basic",
        auth_username="portal",
        auth_secret=AUTH_CANARY,
    )
    edit_url = reverse("integrations:webhook_edit", args=[subscription.pk])
    page = signed_in.get(edit_url).content.decode()
    assert AUTH_CANARY not in page and "Leave empty to keep the current one." in page
    response = signed_in.post(
        edit_url,
        {
            **webhook_form_data(name="Renamed", auth_type="basic", auth_username="portal"),
            "event_types": ["feed.failing"],
        },
    )
    assert response.status_code == 302
    subscription.refresh_from_db()
    assert subscription.name == "Renamed"
    assert subscription.auth_secret == AUTH_CANARY
    assert subscription.event_types == ["feed.failing"]
    assert subscription.secret == SECRET  # the edit form never touches the signing secret
    entry = AuditEntry.objects.filter(action="webhook.updated").latest("pk")
    assert entry.after["name"] == "Renamed"
    for page_url in (detail_url(subscription), edit_url):
        assert AUTH_CANARY not in signed_in.get(page_url).content.decode()


def test_an_invalid_edit_shows_the_stored_name(signed_in, admin):
    subscription = subscribe(admin, "http://127.0.0.1:9/hook", name="Autotask")
    edit_url = reverse("integrations:webhook_edit", args=[subscription.pk])
    response = signed_in.post(edit_url, webhook_form_data(name="Something else", event_types=[]))
    assert "event_types" in field_errors(response)
    assert "Edit Autotask" in response.content.decode()
    subscription.refresh_from_db()
    assert subscription.name == "Autotask"


# --- actions on a subscription ------------------------------------------------------------------


def test_rotating_shows_the_new_secret_once_with_the_grace(signed_in, admin, settings):
    settings.WEBHOOK_SECRET_ROTATION_GRACE_HOURS = 24
    subscription = subscribe(admin, "http://127.0.0.1:9/hook")
    response = signed_in.post(reverse("integrations:webhook_rotate_secret", args=[subscription.pk]))
    assert response.status_code == 200
    new_secret = response.context["secret"]
    body = response.content.decode()
    assert new_secret in body and new_secret != SECRET
    subscription.refresh_from_db()
    assert subscription.signing_secrets() == [new_secret, SECRET]
    until = subscription.previous_secret_expires_at.strftime("%Y-%m-%d %H:%M")
    assert until in body
    page = signed_in.get(detail_url(subscription)).content.decode()
    assert new_secret not in page and SECRET not in page
    assert f"The previous secret also signs until {until}" in page


def test_send_test_event_writes_a_test_delivery_and_opens_it(signed_in, admin, receiver):
    subscription = subscribe(admin, receiver.base_url)
    response = signed_in.post(reverse("integrations:webhook_test", args=[subscription.pk]))
    test = WebhookDelivery.objects.get()
    assert test.event_type == "webhook.test" and test.payload["data"]["test"] is True
    assert response.status_code == 302 and response["Location"] == delivery_url(test)
    # While it waits to go out, its page reloads itself; once delivered, it stops.
    page = signed_in.get(delivery_url(test)).content.decode()
    assert '<meta http-equiv="refresh" content="2">' in page
    assert delivery.deliver(test.pk) == "delivered"
    page = signed_in.get(delivery_url(test)).content.decode()
    assert 'http-equiv="refresh"' not in page
    assert 'data-state="delivered"' in page


def test_a_disabled_subscription_sends_no_test_event(signed_in, admin):
    subscription = subscribe(admin, "http://127.0.0.1:9/hook", is_active=False)
    response = signed_in.post(reverse("integrations:webhook_test", args=[subscription.pk]))
    assert response["Location"] == detail_url(subscription)
    assert not WebhookDelivery.objects.exists()


def test_disable_and_enable(signed_in, admin):
    subscription = subscribe(admin, "http://127.0.0.1:9/hook")
    toggle = reverse("integrations:webhook_toggle", args=[subscription.pk])
    signed_in.post(toggle)
    subscription.refresh_from_db()
    assert subscription.is_active is False and subscription.disabled_at is not None
    page = signed_in.get(detail_url(subscription)).content.decode()
    assert ">Enable</button>" in page and "Send test event</button>" not in page
    signed_in.post(toggle)
    subscription.refresh_from_db()
    assert subscription.is_active is True and subscription.disabled_at is None
    assert AuditEntry.objects.filter(action="webhook.updated").count() == 2


def test_redeliver_resets_a_failed_delivery_to_pending(signed_in, admin, receiver):
    subscription = subscribe(admin, receiver.base_url)
    test = create_test_delivery(subscription)
    receiver.respond_next(410)
    assert delivery.deliver(test.pk) == "failed"
    services.update_subscription(subscription, actor=admin, data={"is_active": True})

    page = signed_in.get(delivery_url(test)).content.decode()
    assert "410" in page and ">Redeliver</button>" in page
    response = signed_in.post(
        reverse("integrations:delivery_redeliver", args=[subscription.pk, test.pk])
    )
    assert response["Location"] == delivery_url(test)
    test.refresh_from_db()
    assert (test.state, test.attempts) == ("pending", 0)
    assert AuditEntry.objects.filter(action="webhook.redelivered").count() == 1
    assert delivery.deliver(test.pk) == "delivered"
    assert {d.headers.get("webhook-id") for d in receiver.deliveries} == {test.message_id}


def test_a_delivery_being_sent_is_not_reset(signed_in, admin):
    subscription = subscribe(admin, "http://127.0.0.1:9/hook")
    test = create_test_delivery(subscription)
    WebhookDelivery.objects.filter(pk=test.pk).update(state="sending", attempts=1)
    signed_in.post(reverse("integrations:delivery_redeliver", args=[subscription.pk, test.pk]))
    test.refresh_from_db()
    assert (test.state, test.attempts) == ("sending", 1)
    assert not AuditEntry.objects.filter(action="webhook.redelivered").exists()


def test_the_delivery_page_escapes_the_body_and_hides_signatures(signed_in, admin, receiver):
    subscription = subscribe(admin, receiver.base_url, auth_type="bearer", auth_secret=AUTH_CANARY)
    test = create_test_delivery(subscription)
    WebhookDelivery.objects.filter(pk=test.pk).update(
        payload={**test.payload, "summary": "<script>alert(1)</script>"}
    )
    delivery.deliver(test.pk)
    signature = receiver.deliveries[0].headers.get("webhook-signature")
    timestamp = receiver.deliveries[0].headers.get("webhook-timestamp")
    page = signed_in.get(delivery_url(test)).content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "\n  &quot;summary&quot;: &quot;&lt;script&gt;" in page  # pretty-printed
    headers = dict(signed_in.get(delivery_url(test)).context["headers"])
    assert headers["webhook-id"] == test.message_id
    assert headers["webhook-timestamp"] == timestamp
    assert headers["Authorization"].startswith("Bearer …")
    for secret_value in (signature.split(",", 1)[1], AUTH_CANARY, SECRET):
        assert secret_value not in page


def test_the_delivery_log_filters_by_state_and_pages_by_25(signed_in, admin):
    subscription = subscribe(admin, "http://127.0.0.1:9/hook")
    tests = [create_test_delivery(subscription) for _n in range(27)]
    WebhookDelivery.objects.filter(pk=tests[0].pk).update(state="failed")
    response = signed_in.get(detail_url(subscription))
    page = response.context["page"]
    assert len(page) == 25 and page.paginator.count == 27
    assert page[0].pk == tests[-1].pk  # newest first
    failed = signed_in.get(detail_url(subscription), {"state": "failed"}).context["page"]
    assert [d.pk for d in failed] == [tests[0].pk]
    second = signed_in.get(detail_url(subscription), {"page": 2}).context["page"]
    assert [d.pk for d in second] == [tests[1].pk, tests[0].pk]


# --- the list's health banner ----------------------------------------------------------------


def test_the_list_warns_about_failing_and_disabled_subscriptions(signed_in, admin, receiver):
    healthy = subscribe(admin, receiver.base_url, name="Healthy")
    failing = subscribe(admin, receiver.base_url, name="Flaky")
    gone = subscribe(admin, receiver.base_url, name="Retired")
    switched_off = subscribe(admin, receiver.base_url, name="Paused")
    services.update_subscription(switched_off, actor=admin, data={"is_active": False})
    assert delivery.deliver(create_test_delivery(healthy).pk) == "delivered"
    receiver.respond_next(503)
    assert delivery.deliver(create_test_delivery(failing).pk) == "pending"
    receiver.respond_next(410)
    assert delivery.deliver(create_test_delivery(gone).pk) == "failed"

    response = signed_in.get(LIST_URL)
    assert [s.name for s in response.context["failing"]] == ["Flaky"]
    assert [s.name for s in response.context["disabled"]] == ["Retired"]
    body = response.content.decode()
    start = body.index('data-testid="webhook-banner"')
    banner = body[start : body.index("</div>", start)]
    assert "Flaky" in banner and "Retired" in banner and "410 Gone" in banner
    assert "Healthy" not in banner and "Paused" not in banner
    flaky = next(s for s in response.context["subscriptions"] if s.name == "Flaky")
    assert flaky.pending_count == 1


def test_no_banner_when_all_is_well(signed_in, admin):
    subscribe(admin, "http://127.0.0.1:9/hook")
    assert 'data-testid="webhook-banner"' not in signed_in.get(LIST_URL).content.decode()


# --- query budgets ----------------------------------------------------------------------------


def _budget(signed_in, url):
    signed_in.get(url)
    with CaptureQueriesContext(connection) as queries:
        assert signed_in.get(url).status_code == 200
    return len(queries)


def test_list_and_delivery_log_queries_do_not_grow_with_rows(
    signed_in, admin, receiver, django_assert_max_num_queries
):
    psa = PsaConnection.objects.create(name="CW", kind="connectwise", default_company_id="1")
    subscription = subscribe(admin, receiver.base_url, psa=psa)
    delivery.deliver(create_test_delivery(subscription).pk)
    budgets = {url: _budget(signed_in, url) for url in (LIST_URL, detail_url(subscription))}
    for n in range(12):
        other = subscribe(admin, receiver.base_url, psa=psa, name=f"More {n}")
        other.customers.set([CustomerFactory()])
        create_test_delivery(other)
    for _n in range(30):
        delivery.deliver(create_test_delivery(subscription).pk)
    for url, budget in budgets.items():
        with django_assert_max_num_queries(budget):
            response = signed_in.get(url)
    assert len(response.context["page"]) == 25
    assert all(d.last_duration_ms is not None for d in response.context["page"])


# --- PSA connections ---------------------------------------------------------------------------


def test_psa_connections_are_created_and_edited_with_an_audit(signed_in):
    create = signed_in.post(
        reverse("integrations:psa_create"),
        {
            "name": "ConnectWise",
            "kind": "connectwise",
            "default_company_id": "Catchall",
            "is_active": "on",
        },
    )
    assert create["Location"] == reverse("integrations:psa_list")
    psa = PsaConnection.objects.get()
    edit_url = reverse("integrations:psa_edit", args=[psa.pk])
    signed_in.post(
        edit_url, {"name": "ConnectWise", "kind": "connectwise", "default_company_id": "19000"}
    )
    psa.refresh_from_db()
    assert psa.default_company_id == "19000" and psa.is_active is False
    update = AuditEntry.objects.get(action="psa_connection.updated")
    assert update.before["default_company_id"] == "Catchall"
    assert update.after["default_company_id"] == "19000"
    duplicate = signed_in.post(
        reverse("integrations:psa_create"),
        {"name": "ConnectWise", "kind": "other", "default_company_id": "1"},
    )
    assert "name" in field_errors(duplicate)
    assert PsaConnection.objects.count() == 1


# --- a customer's company ids -------------------------------------------------------------------


def test_company_ids_are_saved_cleared_and_audited(signed_in, admin):
    customer = CustomerFactory()
    connectwise = PsaConnection.objects.create(
        name="ConnectWise", kind="connectwise", default_company_id="Catchall"
    )
    autotask = PsaConnection.objects.create(
        name="Autotask", kind="autotask", default_company_id="0"
    )
    retired = PsaConnection.objects.create(
        name="Old PSA", kind="other", default_company_id="9", is_active=False
    )
    PsaCompanyMapping.objects.create(customer=customer, psa=retired, company_id="kept")
    url = reverse("integrations:customer_psa_companies", args=[customer.tenant_id])
    form = signed_in.get(url).context["form"]
    assert set(form.fields) == {f"psa_{connectwise.pk}", f"psa_{autotask.pk}"}

    response = signed_in.post(url, {f"psa_{connectwise.pk}": " 19283 ", f"psa_{autotask.pk}": ""})
    assert response["Location"] == customer.get_absolute_url()
    mapped = dict(customer.psa_companies.values_list("psa__name", "company_id"))
    assert mapped == {"ConnectWise": "19283", "Old PSA": "kept"}
    entry = AuditEntry.objects.get(action="customer.psa_companies_changed")
    assert entry.after[str(connectwise.pk)] == "19283"

    signed_in.post(url, {f"psa_{connectwise.pk}": "", f"psa_{autotask.pk}": "A-7"})
    mapped = dict(customer.psa_companies.values_list("psa__name", "company_id"))
    assert mapped == {"Autotask": "A-7", "Old PSA": "kept"}
    assert AuditEntry.objects.filter(action="customer.psa_companies_changed").count() == 2


def test_the_customer_page_shows_each_psa_company_or_the_default(client_for, admin):
    customer = CustomerFactory()
    connectwise = PsaConnection.objects.create(
        name="ConnectWise", kind="connectwise", default_company_id="Catchall"
    )
    PsaConnection.objects.create(name="Autotask", kind="autotask", default_company_id="0")
    services.set_company_ids(customer, actor=admin, company_ids={connectwise: "19283"})
    edit_url = reverse("integrations:customer_psa_companies", args=[customer.tenant_id])

    page = client_for("helpdesk_agent").get(customer.get_absolute_url()).content.decode()
    assert "PSA companies" in page
    assert "<code>19283</code>" in page and "default (0)" in page
    assert edit_url not in page  # helpdesk agents only read
    page = client_for("admin_agent").get(customer.get_absolute_url()).content.decode()
    assert edit_url in page


def test_the_customer_page_has_no_psa_section_without_psa_connections(client_for):
    customer = CustomerFactory()
    page = client_for("admin_agent").get(customer.get_absolute_url()).content.decode()
    assert 'data-testid="psa-companies"' not in page


def feed_failing_subscriber(admin, name, target_url):
    """A webhook subscription to ``feed.failing`` events."""
    subscription, _secret = services.create_subscription(
        actor=admin,
        data={"name": name, "target_url": target_url, "event_types": ["feed.failing"]},
    )
    return subscription


def test_the_dashboard_tells_integration_admins_about_failing_webhooks(client_for, admin):
    healthy = feed_failing_subscriber(admin, "Healthy", "http://127.0.0.1:9/a")
    dashboard = reverse("dashboard:index")
    assert b"webhooks-failing" not in client_for("global_admin").get(dashboard).content
    failing = feed_failing_subscriber(admin, "Failing", "http://127.0.0.1:9/b")
    switched_off = feed_failing_subscriber(admin, "Gone", "http://127.0.0.1:9/c")
    WebhookSubscription.objects.filter(pk__in=[failing.pk, switched_off.pk]).update(
        failing_since=timezone.now()
    )
    WebhookSubscription.objects.filter(pk=switched_off.pk).update(is_active=False)
    page = client_for("global_admin").get(dashboard).content.decode()
    assert 'data-testid="webhooks-failing"' in page
    assert "1 webhook subscription was switched off after failing" in page
    assert "1 webhook subscription is failing" in page
    # Support staff do not manage webhooks: they are not told.
    assert "webhooks-failing" not in client_for("helpdesk_agent").get(dashboard).content.decode()
    assert healthy.is_active
