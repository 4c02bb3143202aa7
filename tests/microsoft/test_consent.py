"""A partner admin's consent from the page: authorization code with PKCE against the Entra ID
simulator over real HTTP, and every way the answer can be refused without changing anything."""

from urllib.parse import parse_qs, urlsplit

import pytest

from core.models import AuditEntry
from microsoft import services
from microsoft.consent import SESSION_KEY
from microsoft.models import MicrosoftConnection
from tests.microsoft.helpers import CALLBACK_URL, CONSENT_URL, sign_in, stored

pytestmark = pytest.mark.django_db


@pytest.fixture
def configured(entra_simulator):
    """Settings saved, no consent yet."""
    services.update_settings(
        actor=None,
        settings={
            "tenant_id": entra_simulator.tenant_id,
            "client_id": entra_simulator.client_id,
            "login_url": entra_simulator.base_url,
            "graph_url": "https://graph.microsoft.com",
            "partner_center_url": "https://api.partnercenter.microsoft.com",
        },
        client_secret=entra_simulator.client_secret,
    )
    return entra_simulator


def test_signing_in_stores_the_refresh_token_and_is_audited(client_for, cast, configured):
    client = client_for("global_admin")
    answer = sign_in(client, configured)
    response = client.get(CALLBACK_URL, answer)
    assert response.status_code == 302
    connection = stored()
    assert connection.state == MicrosoftConnection.State.CONNECTED
    assert connection.refresh_token in configured.refresh_tokens
    assert connection.refresh_expires_at is not None
    entry = AuditEntry.objects.get(action="microsoft_connection.consented")
    assert entry.actor == cast["global_admin"]
    assert connection.refresh_token not in str(entry.after)
    # The code was redeemed with PKCE, the secret and the registered redirect URI.
    _method, _path, form = configured.requests[-1]
    assert form["grant_type"] == "authorization_code"
    assert form["code_verifier"] and form["redirect_uri"].endswith(CALLBACK_URL)
    assert SESSION_KEY not in client.session


def test_the_authorize_request_carries_pkce_state_and_the_partner_center_scope(
    client_for, configured
):
    response = client_for("global_admin").get(CONSENT_URL)
    query = parse_qs(urlsplit(response["Location"]).query)
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) == 43
    assert len(query["state"][0]) >= 32
    assert "user_impersonation" in query["scope"][0] and "offline_access" in query["scope"][0]
    assert query["client_id"] == [configured.client_id]
    assert "client_secret" not in response["Location"]


def refused(client, answer, message):
    response = client.get(CALLBACK_URL, answer, follow=True)
    text = response.content.decode()
    assert message in text, text
    assert stored().state == MicrosoftConnection.State.NOT_CONNECTED
    assert not stored().refresh_token_encrypted
    assert not AuditEntry.objects.filter(action="microsoft_connection.consented").exists()


def test_an_answer_with_another_state_is_refused(client_for, configured):
    client = client_for("global_admin")
    answer = sign_in(client, configured)
    refused(client, {**answer, "state": "forged"}, "does not belong to a sign-in started here")


def test_an_answer_without_a_started_sign_in_is_refused(client_for, configured):
    client = client_for("global_admin")
    answer = sign_in(client, configured)
    session = client.session
    session.pop(SESSION_KEY)
    session.save()
    refused(client, answer, "does not belong to a sign-in started here")


def test_a_replayed_answer_is_refused(client_for, configured):
    client = client_for("global_admin")
    answer = sign_in(client, configured)
    assert client.get(CALLBACK_URL, answer).status_code == 302
    assert stored().state == MicrosoftConnection.State.CONNECTED
    response = client.get(CALLBACK_URL, answer, follow=True)
    assert "does not belong to a sign-in started here" in response.content.decode()


def test_a_wrong_verifier_is_refused_by_entra(client_for, configured):
    client = client_for("global_admin")
    answer = sign_in(client, configured)
    session = client.session
    session[SESSION_KEY] = {**session[SESSION_KEY], "verifier": "x" * 64}
    session.save()
    refused(client, answer, "Code_Verifier does not match")


def test_a_refused_consent_is_shown(client_for, configured):
    configured.consent_refusal = ("access_denied", "AADSTS65004: User declined to consent.")
    client = client_for("global_admin")
    answer = sign_in(client, configured)
    refused(client, answer, "User declined to consent")


def test_settings_changed_during_the_sign_in_refuse_the_answer(client_for, configured):
    client = client_for("global_admin")
    answer = sign_in(client, configured)
    MicrosoftConnection.objects.update(client_id="another-app")
    refused(client, answer, "settings changed during the sign-in")


def test_the_sign_in_needs_the_settings_first(client_for):
    response = client_for("global_admin").get(CONSENT_URL, follow=True)
    assert "Save the partner tenant id" in response.content.decode()
