"""The refresh-token grant (outbound.entra) against the Entra ID simulator over real HTTP."""

import pytest

from core.outbound import transport
from outbound.entra import (
    GRAPH_SCOPE,
    PARTNER_CENTER_SCOPE,
    EntraError,
    TokenRevoked,
    redeem_refresh_token,
    token_url,
)

TENANT = "11111111-2222-3333-4444-555555555555"


def redeem(simulator, refresh_token, scope=PARTNER_CENTER_SCOPE, **changes):
    given = {
        "login_url": simulator.base_url,
        "tenant_id": simulator.tenant_id,
        "client_id": simulator.client_id,
        "client_secret": simulator.client_secret,
        "refresh_token": refresh_token,
        "scope": scope,
        **changes,
    }
    return redeem_refresh_token(transport(), **given)


def test_a_redemption_returns_a_new_refresh_token_and_the_old_one_keeps_working(entra_simulator):
    first = entra_simulator.issue_refresh_token()
    tokens = redeem(entra_simulator, first)
    assert tokens.refresh_token != first
    assert tokens.expires_in == 3599
    assert tokens.access_token
    # Entra ID does not revoke the older token when it hands out a newer one.
    assert redeem(entra_simulator, first).refresh_token not in (first, tokens.refresh_token)
    method, path, form = entra_simulator.requests[0]
    assert (method, path) == ("POST", f"/{TENANT}/oauth2/v2.0/token")
    assert form == {
        "client_id": "portal-app",
        "client_secret": "simulated-client-secret",
        "grant_type": "refresh_token",
        "refresh_token": first,
        "scope": PARTNER_CENTER_SCOPE,
    }


def test_the_graph_scope_is_sent_as_asked(entra_simulator):
    redeem(entra_simulator, entra_simulator.issue_refresh_token(), scope=GRAPH_SCOPE)
    assert entra_simulator.requests[0][2]["scope"] == (
        "https://graph.microsoft.com/.default offline_access"
    )


@pytest.mark.parametrize("script", ["revoke", "expire_all"])
def test_a_revoked_or_expired_token_is_token_revoked(entra_simulator, script):
    token = entra_simulator.issue_refresh_token()
    if script == "revoke":
        entra_simulator.revoke(token)
    else:
        entra_simulator.expire_all()
    with pytest.raises(TokenRevoked) as caught:
        redeem(entra_simulator, token)
    assert caught.value.code == "invalid_grant"
    assert not caught.value.retryable
    expected = "AADSTS70000" if script == "revoke" else "AADSTS700082"
    assert expected in str(caught.value)
    assert token not in str(caught.value)


def test_a_wrong_secret_is_permanent_but_not_a_revoked_token(entra_simulator):
    with pytest.raises(EntraError) as caught:
        redeem(entra_simulator, entra_simulator.issue_refresh_token(), client_secret="wrong")
    assert not isinstance(caught.value, TokenRevoked)
    assert not caught.value.retryable
    assert caught.value.code == "invalid_client"
    assert "wrong" not in str(caught.value)


@pytest.mark.parametrize("status", [429, 500, 503])
def test_throttling_and_server_errors_are_retryable(entra_simulator, status):
    entra_simulator.fail_next("/", status, headers={"Retry-After": "7"})
    with pytest.raises(EntraError) as caught:
        redeem(entra_simulator, entra_simulator.issue_refresh_token())
    assert caught.value.retryable
    assert caught.value.retry_after == 7
    assert caught.value.status == status


def test_a_body_that_is_not_json_is_retryable(entra_simulator):
    entra_simulator.fail_next("/", 200, body=b"<html>maintenance</html>")
    with pytest.raises(EntraError) as caught:
        redeem(entra_simulator, entra_simulator.issue_refresh_token())
    assert caught.value.retryable


def test_an_answer_without_a_refresh_token_is_refused(entra_simulator):
    entra_simulator.fail_next("/", 200, body={"access_token": "at", "expires_in": 3599})
    with pytest.raises(EntraError) as caught:
        redeem(entra_simulator, entra_simulator.issue_refresh_token())
    assert "offline_access" in str(caught.value)


def test_a_connection_error_is_retryable(entra_simulator):
    with pytest.raises(EntraError) as caught:
        redeem(entra_simulator, "rt", login_url="http://127.0.0.1:9")
    assert caught.value.retryable


@pytest.mark.parametrize(
    "login_url",
    [
        "https://login.example/{tenant_id.__class__}",
        "https://login.example/{0}",
        "https://login.example/}",
    ],
)
def test_a_format_string_in_the_login_url_is_refused(login_url):
    with pytest.raises(EntraError) as caught:
        token_url(login_url, TENANT)
    assert "braces" in str(caught.value)
    assert not caught.value.retryable


def test_the_token_url_is_built_by_literal_substitution():
    assert token_url("https://login.example/", TENANT) == (
        f"https://login.example/{TENANT}/oauth2/v2.0/token"
    )
    with pytest.raises(EntraError):
        token_url("https://login.example", "not-a-guid/../x")


def test_the_simulator_rotates_only_for_its_app(entra_simulator):
    token = entra_simulator.issue_refresh_token()
    with pytest.raises(EntraError) as caught:
        redeem(entra_simulator, token, client_id="someone-else")
    assert caught.value.code == "unauthorized_client"
    with pytest.raises(TokenRevoked):
        redeem(entra_simulator, "never-issued")
