"""API clients: scopes per resource, token rotation without downtime, per-client rate limits."""

import importlib
from datetime import timedelta

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from knox.models import AuthToken

from accounts import services
from accounts.models import ApiClient
from accounts.roles import Role
from accounts.scopes import ApiResource
from core.models import AuditEntry

ME = "/api/v1/me/"
ROTATE = "/api/v1/me/rotate-token/"
EVERY_RESOURCE = ApiResource.values


def bearer(token):
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def stored(token):
    return AuthToken.objects.get(token_key=token[:15])


def make_client(name="ConnectWise", role=Role.HELPDESK_AGENT, scopes=("read",), **fields):
    return services.create_api_client(name=name, role=role, scopes=scopes, **fields)


# --- scopes -------------------------------------------------------------------------------------


def test_the_create_form_sets_scopes_per_resource(client_for):
    signed_in = client_for("global_admin")
    page = signed_in.get(reverse("accounts:api_client_create")).content.decode()
    for resource in ApiResource:
        assert f'data-resource="{resource.value}"' in page
    response = signed_in.post(
        reverse("accounts:api_client_create"),
        {
            "name": "HaloPSA",
            "role": Role.HELPDESK_AGENT,
            "rate_limit": "120/min",
            **{f"scope_{resource}": "" for resource in EVERY_RESOURCE},
            "scope_customers": "read",
            "scope_incidents": "write",
        },
    )
    assert response.status_code == 200
    client = ApiClient.objects.get(name="HaloPSA")
    assert client.scopes == ["customers:read", "incidents:write"]
    assert client.rate_limit == "120/min"
    entry = AuditEntry.objects.get(action="api_client.created")
    assert entry.after["scopes"] == ["customers:read", "incidents:write"]
    token = response.context["token"]
    assert Client().get("/api/v1/customers/", **bearer(token)).status_code == 200
    assert Client().get("/api/v1/service-requests/", **bearer(token)).status_code == 403
    listing = signed_in.get(reverse("accounts:api_client_list")).content.decode()
    assert "Customers: read, Incidents: write" in listing


def test_editing_scopes_applies_to_live_tokens_and_is_audited(client_for):
    client, token = make_client(scopes=["customers:write"])
    signed_in = client_for("global_admin")
    url = reverse("accounts:api_client_edit", args=[client.pk])
    page = signed_in.get(url)
    assert page.status_code == 200
    assert page.context["form"]["scope_customers"].value() == "write"
    response = signed_in.post(url, {"scope_customers": "read", "scope_psa": "write"})
    assert response.status_code == 302
    client.refresh_from_db()
    assert client.scopes == ["customers:read", "psa:write"]
    entry = AuditEntry.objects.get(action="api_client.updated")
    assert entry.before["scopes"] == ["customers:write"]
    assert entry.after["scopes"] == ["customers:read", "psa:write"]
    created = Client().post(
        "/api/v1/customers/", {}, content_type="application/json", **bearer(token)
    )
    assert created.status_code == 403
    assert "customers:write" in created.json()["errors"][0]["detail"]
    assert Client().get("/api/v1/customers/", **bearer(token)).status_code == 200
    # Saving the same again changes nothing and writes no entry.
    signed_in.post(url, {"scope_customers": "read", "scope_psa": "write"})
    assert AuditEntry.objects.filter(action="api_client.updated").count() == 1


def test_the_edit_form_refuses_bad_input(client_for):
    client, _token = make_client(scopes=["customers:read"])
    signed_in = client_for("global_admin")
    url = reverse("accounts:api_client_edit", args=[client.pk])
    response = signed_in.post(url, {"rate_limit": "lots"})
    errors = response.context["form"].errors
    assert set(errors) == {"rate_limit", "__all__"}  # a bad rate, and no scope at all
    client.refresh_from_db()
    assert client.scopes == ["customers:read"]


def test_me_lists_the_scopes(api_token_for, client_for):
    token = api_token_for(Role.ADMIN_AGENT, scopes=["incidents:read", "customers:write"])
    data = Client().get(ME, **bearer(token)).json()
    assert data["scopes"] == ["customers:write", "incidents:read"]
    person = client_for("helpdesk_agent").get(ME).json()
    assert person["scopes"] == sorted(f"{resource}:write" for resource in EVERY_RESOURCE)


def test_scopes_are_validated_and_stored_canonically(db):
    client, _token = make_client(scopes=["customers:read", "customers:write", "read"])
    # write wins over read; "read" is read on every other resource.
    assert client.scopes == sorted(
        ["customers:write"] + [f"{r}:read" for r in EVERY_RESOURCE if r != "customers"]
    )
    with pytest.raises(ValidationError, match="Unknown scopes: tickets:read"):
        make_client(name="Other", scopes=["tickets:read"])
    with pytest.raises(ValidationError, match="at least one scope"):
        make_client(name="Other", scopes=[])


def test_the_command_takes_resource_scopes(db, capsys):
    call_command(
        "create_api_client",
        "--name",
        "Autotask",
        "--role",
        "helpdesk_agent",
        "--scopes",
        "incidents:write,customers:read",
        "--rate-limit",
        "60/min",
    )
    token = capsys.readouterr().out.strip()
    client = ApiClient.objects.get(name="Autotask")
    assert client.scopes == ["customers:read", "incidents:write"]
    assert client.rate_limit == "60/min"
    assert Client().get(ME, **bearer(token)).status_code == 200
    with pytest.raises(CommandError, match="Unknown scopes"):
        call_command(
            "create_api_client", "--name", "X", "--role", "helpdesk_agent", "--scopes", "all"
        )
    with pytest.raises(CommandError, match="number per period"):
        call_command(
            "create_api_client", "--name", "X", "--role", "helpdesk_agent", "--rate-limit", "9"
        )


def test_the_migration_gives_old_clients_every_resource_at_their_level(db):
    migration = importlib.import_module(
        "accounts.migrations.0003_api_client_resource_scopes_and_rate_limit"
    )
    reader, _t = make_client(name="Reader")
    writer, _t = make_client(name="Writer")
    ApiClient.objects.filter(pk=reader.pk).update(scopes=["read"])
    ApiClient.objects.filter(pk=writer.pk).update(scopes=["read", "write"])
    migration.to_resource_scopes(apps, None)
    reader.refresh_from_db()
    writer.refresh_from_db()
    assert reader.scopes == sorted(f"{resource}:read" for resource in EVERY_RESOURCE)
    assert writer.scopes == sorted(f"{resource}:write" for resource in EVERY_RESOURCE)
    # The registry and the migration's frozen copy agree (a new resource needs its migration).
    assert sorted(migration.RESOURCES) == sorted(EVERY_RESOURCE)
    migration.to_global_scopes(apps, None)
    reader.refresh_from_db()
    writer.refresh_from_db()
    assert (reader.scopes, writer.scopes) == (["read"], ["read", "write"])


# --- rotation -----------------------------------------------------------------------------------


def test_a_client_rotates_its_own_token_without_downtime(db, settings):
    settings.API_TOKEN_ROTATION_GRACE_HOURS = 24
    client, old = make_client(scopes=["customers:read"])
    before = timezone.now()
    response = Client().post(ROTATE, **bearer(old))
    after = timezone.now()
    assert response.status_code == 201
    new = response.json()["token"]
    assert new != old
    grace_ends = stored(old).expiry
    assert before + timedelta(hours=24) <= grace_ends <= after + timedelta(hours=24)
    assert stored(new).expiry is None
    assert response.json()["previous_tokens_expire"].startswith(grace_ends.date().isoformat())
    # During the grace both work.
    assert Client().get(ME, **bearer(old)).status_code == 200
    assert Client().get(ME, **bearer(new)).status_code == 200
    # After it, only the new one.
    AuthToken.objects.filter(pk=stored(old).pk).update(expiry=timezone.now() - timedelta(seconds=1))
    assert Client().get(ME, **bearer(old)).status_code == 401
    assert Client().get(ME, **bearer(new)).status_code == 200
    entry = AuditEntry.objects.get(action="api_client.token_rotated")
    assert entry.target_id == str(client.pk)
    assert entry.after["new_token"]["prefix"] == new[:8]
    assert new not in str(entry.after) and old not in str(entry.before)


def test_rotating_twice_keeps_the_earlier_expiry(db, settings):
    _client, first = make_client()
    second = Client().post(ROTATE, **bearer(first)).json()["token"]
    first_expiry = stored(first).expiry
    settings.API_TOKEN_ROTATION_GRACE_HOURS = 48
    third = Client().post(ROTATE, **bearer(second)).json()["token"]
    assert stored(first).expiry == first_expiry  # not extended by the second rotation
    assert stored(second).expiry > first_expiry
    assert stored(third).expiry is None


def test_without_grace_the_old_token_stops_at_once(db, settings):
    settings.API_TOKEN_ROTATION_GRACE_HOURS = 0
    _client, old = make_client()
    new = Client().post(ROTATE, **bearer(old)).json()["token"]
    assert Client().get(ME, **bearer(old)).status_code == 401
    assert Client().get(ME, **bearer(new)).status_code == 200


def test_people_have_no_token_to_rotate(client_for):
    assert client_for("global_admin").post(ROTATE).status_code == 404


def test_an_admin_rotates_in_the_ui_and_revoking_kills_every_token(client_for):
    client, old = make_client()
    signed_in = client_for("global_admin")
    response = signed_in.post(reverse("accounts:api_client_rotate", args=[client.pk]))
    assert response.status_code == 200
    new = response.context["token"]
    assert new in response.content.decode()
    assert Client().get(ME, **bearer(old)).status_code == 200
    assert Client().get(ME, **bearer(new)).status_code == 200
    page = signed_in.get(reverse("accounts:api_client_edit", args=[client.pk])).content.decode()
    assert new[:8] in page and old[:8] in page
    assert new not in page and old not in page
    signed_in.post(reverse("accounts:api_client_revoke", args=[client.pk]))
    assert Client().get(ME, **bearer(old)).status_code == 401
    assert Client().get(ME, **bearer(new)).status_code == 401
    refused = signed_in.post(reverse("accounts:api_client_rotate", args=[client.pk]))
    assert refused.status_code == 302
    assert not AuthToken.objects.filter(user=client.user).exists()


# --- per-client rate limits ---------------------------------------------------------------------


def test_a_client_with_its_own_rate_gets_429_and_others_do_not(db):
    _slow, slow_token = make_client(name="Slow", rate_limit="2/min")
    _other, other_token = make_client(name="Other")
    statuses = [Client().get(ME, **bearer(slow_token)).status_code for _n in range(3)]
    assert statuses == [200, 200, 429]
    throttled = Client().get(ME, **bearer(slow_token))
    assert throttled.status_code == 429
    retry_after = throttled["Retry-After"]
    assert retry_after.isdigit() and 0 < int(retry_after) <= 60
    body = throttled.json()
    assert body["type"] == "client_error"
    assert body["errors"][0]["code"] == "throttled"
    assert "throttled" in body["errors"][0]["detail"].lower()
    assert all(Client().get(ME, **bearer(other_token)).status_code == 200 for _n in range(5))


def test_the_rate_is_edited_in_the_ui(client_for):
    client, token = make_client(scopes=["customers:read"])
    signed_in = client_for("global_admin")
    url = reverse("accounts:api_client_edit", args=[client.pk])
    response = signed_in.post(url, {"scope_customers": "read", "rate_limit": "1/hour"})
    assert response.status_code == 302
    assert AuditEntry.objects.get(action="api_client.updated").after["rate_limit"] == "1/hour"
    assert Client().get(ME, **bearer(token)).status_code == 200
    assert Client().get(ME, **bearer(token)).status_code == 429


def test_a_token_call_costs_no_query_for_the_clients_other_tokens(
    db, settings, django_assert_max_num_queries
):
    _client, old = make_client(scopes=["customers:read"])
    new = Client().post(ROTATE, **bearer(old)).json()["token"]
    Client().get(ME, **bearer(new))  # last-used written; the next calls only read
    # Token with its user, the client, the role's permissions (two), the page: knox would add
    # a look at every other token of the client on each call.
    with django_assert_max_num_queries(5):
        assert Client().get("/api/v1/customers/", **bearer(new)).status_code == 200


def test_tokens_past_their_grace_are_deleted_at_the_next_rotation(db, settings):
    _client, first = make_client()
    second = Client().post(ROTATE, **bearer(first)).json()["token"]
    # The first token's grace ends; nobody uses it again.
    AuthToken.objects.filter(pk=stored(first).pk).update(
        expiry=timezone.now() - timedelta(seconds=1)
    )
    assert AuthToken.objects.filter(token_key=first[:15]).exists()
    third = Client().post(ROTATE, **bearer(second)).json()["token"]
    assert not AuthToken.objects.filter(token_key=first[:15]).exists()
    assert stored(second).expiry is not None  # in its own grace: kept
    assert Client().get(ME, **bearer(second)).status_code == 200
    assert Client().get(ME, **bearer(third)).status_code == 200
    # An expired token that is used is refused and deleted at once.
    AuthToken.objects.filter(pk=stored(second).pk).update(
        expiry=timezone.now() - timedelta(seconds=1)
    )
    assert Client().get(ME, **bearer(second)).status_code == 401
    assert not AuthToken.objects.filter(token_key=second[:15]).exists()
