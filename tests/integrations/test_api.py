"""The integrations API: webhook subscriptions, deliveries, PSA connections and company ids."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from core.models import AuditEntry, Event, EventTypeChoices
from integrations.models import (
    PsaCompanyMapping,
    PsaConnection,
    WebhookDelivery,
    WebhookSubscription,
)
from tests.customers.factories import CustomerFactory

pytestmark = pytest.mark.django_db

WEBHOOKS = "/api/v1/webhooks/"
DELIVERIES = "/api/v1/webhook-deliveries/"
PSAS = "/api/v1/psa-connections/"
MAPPINGS = "/api/v1/psa-mappings/"


def new_subscription(api, **fields):
    body = {
        "name": f"PSA {uuid.uuid4().hex[:6]}",
        "target_url": "http://127.0.0.1:9/hooks",
        "event_types": ["incident.created", "incident.resolved"],
        **fields,
    }
    return api.post(WEBHOOKS, body, format="json")


def test_creating_a_subscription_returns_its_secret_once(admin_api):
    response = new_subscription(admin_api)
    assert response.status_code == 201, response.json()
    created = response.json()
    assert created["signing_secret"].startswith("whsec_")
    assert created["event_types"] == ["incident.created", "incident.resolved"]
    assert "secret" not in created
    again = admin_api.get(f"{WEBHOOKS}{created['id']}/").json()
    assert "signing_secret" not in again and "secret" not in again
    stored = WebhookSubscription.objects.get(pk=created["id"])
    assert stored.secret == created["signing_secret"]
    assert created["signing_secret"] not in stored.secret_encrypted
    entry = AuditEntry.objects.get(action="webhook.created")
    assert created["signing_secret"] not in str(entry.after)


@pytest.mark.parametrize(
    ("fields", "field", "fragment"),
    [
        ({"target_url": "ftp://example.com/x"}, "target_url", "URL"),
        ({"event_types": []}, "event_types", ""),
        ({"event_types": ["incident.exploded"]}, "event_types", "valid choice"),
        ({"auth_type": "basic", "auth_secret": "pw"}, "auth_username", "user name"),
        ({"auth_type": "bearer"}, "auth_secret", "token"),
        ({"secret": "not-a-whsec"}, "secret", "whsec_"),
        ({"psa": 999999}, "psa", ""),
        ({"customers": [str(uuid.uuid4())]}, "customers", "tenant id"),
    ],
)
def test_bad_subscriptions_get_field_errors_and_write_nothing(admin_api, fields, field, fragment):
    response = new_subscription(admin_api, **fields)
    assert response.status_code == 400
    errors = response.json()["errors"]
    attrs = [error["attr"] for error in errors]
    assert any(attr == field or attr.startswith(f"{field}.") for attr in attrs), errors
    assert fragment in " ".join(error["detail"] for error in errors)
    assert WebhookSubscription.objects.count() == 0


def test_a_loopback_target_is_refused_in_production(admin_api, settings):
    settings.OUTBOUND_URL_ALLOWLIST = []
    response = new_subscription(admin_api, target_url="http://127.0.0.1:8080/hook")
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "target_url"


def test_update_keeps_secrets_and_filters_by_customer(admin_api):
    customer = CustomerFactory()
    created = new_subscription(admin_api, auth_type="bearer", auth_secret="first-token").json()
    response = admin_api.patch(
        f"{WEBHOOKS}{created['id']}/",
        {"customers": [str(customer.tenant_id)], "name": "Renamed"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert response.json()["customers"] == [str(customer.tenant_id)]
    assert response.json()["has_auth_secret"] is True
    stored = WebhookSubscription.objects.get(pk=created["id"])
    assert stored.auth_secret == "first-token"
    refused = admin_api.patch(
        f"{WEBHOOKS}{created['id']}/", {"secret": "whsec_" + "A" * 32}, format="json"
    )
    assert refused.status_code == 400


def test_rotating_the_secret_keeps_the_old_one_signing_for_the_grace(admin_api, settings):
    settings.WEBHOOK_SECRET_ROTATION_GRACE_HOURS = 12
    created = new_subscription(admin_api).json()
    response = admin_api.post(f"{WEBHOOKS}{created['id']}/rotate-secret/")
    assert response.status_code == 200
    body = response.json()
    assert body["signing_secret"] != created["signing_secret"]
    stored = WebhookSubscription.objects.get(pk=created["id"])
    assert stored.signing_secrets() == [body["signing_secret"], created["signing_secret"]]
    assert stored.previous_secret_expires_at > timezone.now() + timedelta(hours=11)


def test_a_test_event_and_redelivery_through_the_api(admin_api):
    created = new_subscription(admin_api).json()
    response = admin_api.post(f"{WEBHOOKS}{created['id']}/test/")
    assert response.status_code == 202
    test = response.json()
    assert test["event_type"] == "webhook.test" and test["state"] == "pending"
    assert test["payload"]["data"]["test"] is True
    WebhookDelivery.objects.filter(pk=test["id"]).update(state="failed", attempts=9)
    redelivered = admin_api.post(f"{DELIVERIES}{test['id']}/redeliver/")
    assert redelivered.status_code == 202
    assert redelivered.json()["state"] == "pending"
    assert redelivered.json()["message_id"] == test["message_id"]
    listed = admin_api.get(DELIVERIES, {"subscription": created["id"], "state": "pending"})
    assert [row["id"] for row in listed.json()["results"]] == [test["id"]]


def test_deliveries_list_in_a_bounded_number_of_queries(admin_api, django_assert_max_num_queries):
    created = new_subscription(admin_api).json()
    for _ in range(5):
        admin_api.post(f"{WEBHOOKS}{created['id']}/test/")
    with django_assert_max_num_queries(8):
        response = admin_api.get(DELIVERIES)
    assert len(response.json()["results"]) == 5


def test_psa_connections_support_reads_global_admins_write(api_for, admin_api):
    created = admin_api.post(
        PSAS,
        {"name": "ConnectWise", "kind": "connectwise", "default_company_id": "CatchAll"},
        format="json",
    )
    assert created.status_code == 201, created.json()
    helpdesk = api_for("helpdesk_agent")
    assert helpdesk.get(PSAS).json()["results"][0]["name"] == "ConnectWise"
    assert (
        helpdesk.post(PSAS, {"name": "X", "kind": "other", "default_company_id": "1"}).status_code
        == 403
    )
    bad = admin_api.post(
        PSAS, {"name": "Y", "kind": "sap", "default_company_id": ""}, format="json"
    )
    assert {error["attr"] for error in bad.json()["errors"]} == {"kind", "default_company_id"}


def test_company_ids_are_mapped_changed_and_removed_with_customer_events(api_for):
    psa = PsaConnection.objects.create(name="Autotask", kind="autotask", default_company_id="0")
    customer = CustomerFactory()
    agent = api_for("admin_agent")
    created = agent.post(
        MAPPINGS,
        {"customer": str(customer.tenant_id), "psa": psa.pk, "company_id": " 2001 "},
        format="json",
    )
    assert created.status_code == 201, created.json()
    assert created.json()["company_id"] == "2001"
    duplicate = agent.post(
        MAPPINGS,
        {"customer": str(customer.tenant_id), "psa": psa.pk, "company_id": "9"},
        format="json",
    )
    assert duplicate.status_code == 400
    url = f"{MAPPINGS}{created.json()['id']}/"
    assert agent.patch(url, {"company_id": "2002"}, format="json").json()["company_id"] == "2002"
    listed = agent.get(MAPPINGS, {"customer": str(customer.tenant_id)}).json()["results"]
    assert [row["company_id"] for row in listed] == ["2002"]
    assert (
        api_for("helpdesk_agent").patch(url, {"company_id": "1"}, format="json").status_code == 403
    )
    assert agent.delete(url).status_code == 204
    assert not PsaCompanyMapping.objects.exists()
    updates = Event.objects.filter(
        type=EventTypeChoices.CUSTOMER_UPDATED, tenant_id=customer.tenant_id
    )
    assert updates.count() == 3


def test_collections_sync_incrementally_with_modified_since(admin_api, settings):
    settings.API_SYNC_SETTLE_SECONDS = 0
    old = PsaConnection.objects.create(name="Old", kind="other", default_company_id="0")
    PsaConnection.objects.filter(pk=old.pk).update(modified_at=timezone.now() - timedelta(days=2))
    PsaConnection.objects.create(name="New", kind="other", default_company_id="0")
    since = (timezone.now() - timedelta(days=1)).isoformat()
    for url in (PSAS, MAPPINGS, WEBHOOKS, DELIVERIES):
        assert admin_api.get(url, {"modified_since": since}).status_code == 200
    names = [
        row["name"] for row in admin_api.get(PSAS, {"modified_since": since}).json()["results"]
    ]
    assert names == ["New"]
    everything = [row["name"] for row in admin_api.get(PSAS).json()["results"]]
    assert everything == ["Old", "New"]  # oldest change first
