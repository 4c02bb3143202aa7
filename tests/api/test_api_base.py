import pytest
from django.core.cache import caches
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from knox.models import AuthToken

from accounts.models import ApiClient
from accounts.roles import Role
from accounts.scopes import ApiResource
from core.throttling import AnonymousRateThrottle, ClientRateThrottle


def bearer(token):
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_me_describes_a_signed_in_person(client_for):
    data = client_for("admin_agent").get(reverse("api-v1:me")).json()
    assert data["kind"] == "person"
    assert data["email"] == "admin-agent@partner.example"
    assert data["roles"] == ["admin_agent"]
    assert data["capabilities"] == ["manage_customers", "view_support", "work_support"]


def test_me_describes_an_api_client(api_token_for):
    token = api_token_for(Role.HELPDESK_AGENT, scopes=["read"])
    response = Client().get(reverse("api-v1:me"), **bearer(token))
    assert response.status_code == 200
    data = response.json()
    assert data["kind"] == "api_client"
    assert data["roles"] == ["helpdesk_agent"]
    # "read" alone is shorthand for read on every resource.
    assert data["scopes"] == sorted(f"{resource}:read" for resource in ApiResource.values)
    assert ApiClient.objects.get().last_used_at is not None


def test_tokens_are_stored_only_as_digests(api_token_for):
    token = api_token_for(Role.HELPDESK_AGENT)
    stored = AuthToken.objects.get()
    assert token not in (stored.digest, stored.token_key)
    assert stored.token_key == token[: len(stored.token_key)]


def test_a_revoked_client_is_refused(api_token_for, client_for):
    token = api_token_for(Role.HELPDESK_AGENT)
    client = ApiClient.objects.get()
    response = client_for("global_admin").post(
        reverse("accounts:api_client_revoke", args=[client.pk])
    )
    assert response.status_code == 302
    response = Client().get(reverse("api-v1:me"), **bearer(token))
    assert response.status_code == 401
    assert response.json()["type"] == "client_error"


@pytest.mark.parametrize("name", ["token", "access_token", "auth_token", "bearer"])
def test_a_token_in_the_query_string_is_not_accepted(name, api_token_for):
    token = api_token_for(Role.HELPDESK_AGENT)
    response = Client().get(reverse("api-v1:me"), {name: token})
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "not_authenticated"
    # Not even recorded as a use of the client.
    assert ApiClient.objects.get().last_used_at is None
    response = Client().post(
        f"{reverse('api-v1:customer-list')}?{name}={token}", {}, content_type="application/json"
    )
    assert response.status_code == 401


def test_a_read_only_token_cannot_write(api_token_for):
    token = api_token_for(Role.GLOBAL_ADMIN, scopes=["read"])
    response = Client().post(
        reverse("api-v1:customer-list"), {}, content_type="application/json", **bearer(token)
    )
    assert response.status_code == 403
    assert "customers:write" in response.json()["errors"][0]["detail"]


def test_errors_share_one_format(client_for):
    response = client_for("helpdesk_agent").get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    response = Client().get(reverse("api-v1:me"))
    body = response.json()
    assert response.status_code == 401
    assert body["type"] == "client_error"
    assert body["errors"][0]["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == "Bearer"


def test_each_client_has_its_own_throttle(api_token_for, monkeypatch):
    caches["throttle"].clear()
    monkeypatch.setattr(ClientRateThrottle, "rate", "3/min", raising=False)
    first = api_token_for(Role.HELPDESK_AGENT)
    second = api_token_for(Role.HELPDESK_AGENT)
    statuses = [Client().get(reverse("api-v1:me"), **bearer(first)).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    throttled = Client().get(reverse("api-v1:me"), **bearer(first))
    assert int(throttled["Retry-After"]) > 0
    assert throttled.json()["errors"][0]["code"] == "throttled"
    # Spoofing the client address changes nothing: the bucket is the client's.
    spoofed = Client().get(
        reverse("api-v1:me"), HTTP_X_FORWARDED_FOR="203.0.113.9", **bearer(first)
    )
    assert spoofed.status_code == 429
    assert Client().get(reverse("api-v1:me"), **bearer(second)).status_code == 200


def test_a_flood_with_changing_forwarded_addresses_still_hits_429(api_token_for, monkeypatch):
    caches["throttle"].clear()
    monkeypatch.setattr(ClientRateThrottle, "rate", "3/min", raising=False)
    token = api_token_for(Role.HELPDESK_AGENT)
    statuses = [
        Client()
        .get(reverse("api-v1:me"), HTTP_X_FORWARDED_FOR=f"198.51.100.{n}", **bearer(token))
        .status_code
        for n in range(1, 6)
    ]
    assert statuses == [200, 200, 200, 429, 429]


@pytest.mark.parametrize(
    ("proxies", "expected_bucket"),
    [
        (0, "127.0.0.1"),  # no proxy: the socket's address, the header is ignored
        (1, "192.0.2.7"),  # the address the portal's own proxy appended, not what the client sent
    ],
)
def test_anonymous_throttling_ignores_a_spoofed_forwarded_for(
    proxies, expected_bucket, db, settings
):
    # Through the whole stack: core.middleware puts the trusted address in REMOTE_ADDR first.
    settings.TRUSTED_PROXY_COUNT = proxies
    caches["throttle"].clear()
    for n in range(3):
        Client().get(reverse("api-v1:me"), HTTP_X_FORWARDED_FOR=f"203.0.113.{n}, 192.0.2.7")
    key = AnonymousRateThrottle.cache_format % {
        "scope": AnonymousRateThrottle.scope,
        "ident": expected_bucket,
    }
    # core.throttling keeps each bucket's calls in a Redis sorted set.
    throttle_cache = caches["throttle"]
    redis = throttle_cache._cache.get_client(write=True)
    assert redis.zcard(throttle_cache.make_and_validate_key(key)) == 3


def test_create_api_client_command_prints_a_working_token(db, capsys):
    call_command("create_api_client", "--name", "ConnectWise", "--role", "helpdesk_agent")
    token = capsys.readouterr().out.strip()
    response = Client().get(reverse("api-v1:me"), **bearer(token))
    assert response.status_code == 200
    assert response.json()["full_name"] == "ConnectWise"


def test_global_admin_creates_a_client_and_sees_the_token_once(client_for):
    signed_in = client_for("global_admin")
    response = signed_in.post(
        reverse("accounts:api_client_create"),
        {"name": "Autotask", "role": Role.HELPDESK_AGENT, "scope_incidents": "write"},
    )
    assert response.status_code == 200
    token = response.context["token"]
    assert Client().get(reverse("api-v1:me"), **bearer(token)).status_code == 200
    listing = signed_in.get(reverse("accounts:api_client_list")).content.decode()
    assert "Autotask" in listing
    assert token not in listing


def test_api_client_form_reports_field_errors(client_for):
    response = client_for("global_admin").post(
        reverse("accounts:api_client_create"),
        {"name": "", "role": "emperor", "rate_limit": "lots", "scope_customers": "admin"},
    )
    errors = response.context["form"].errors
    # No scope at all is a form error of its own.
    assert set(errors) == {"name", "role", "rate_limit", "scope_customers", "__all__"}


def test_schema_and_docs_need_a_sign_in(client_for):
    assert Client().get(reverse("api-v1:schema")).status_code in (401, 403)
    response = client_for("helpdesk_agent").get(reverse("api-v1:schema"))
    assert response.status_code == 200
    assert b"/api/v1/me/" in response.content


def test_lists_paginate_with_cursors_by_default():
    from django.conf import settings

    assert (
        settings.REST_FRAMEWORK["DEFAULT_PAGINATION_CLASS"]
        == "core.pagination.PortalCursorPagination"
    )


@pytest.mark.parametrize("header", ["Bearer", "Bearer a b", "Bearer not-a-real-token"])
def test_malformed_tokens_are_refused(header, db):
    assert Client().get(reverse("api-v1:me"), HTTP_AUTHORIZATION=header).status_code == 401


def test_the_openapi_schema_generates_without_warnings_and_validates(db, tmp_path):
    # --validate checks the schema against the OpenAPI 3 specification.
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml")
    )
    schema = (tmp_path / "schema.yml").read_text()
    assert "/api/v1/customers/{tenant_id}/relationships/" in schema
    assert "bearerAuth" in schema
