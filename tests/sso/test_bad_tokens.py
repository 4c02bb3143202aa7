"""Every bad id_token the simulator mints is refused with a clear message, audited, and changes
no user."""

import pytest
from django.test import Client

from accounts.models import User
from accounts.roles import Role
from core.models import AuditEntry
from tests.sso.helpers import callback_url, configure, sign_in, signed_in_user_id

pytestmark = pytest.mark.django_db

MESSAGES = {
    "foreign_tenant": "another Microsoft Entra tenant",
    "wrong_audience": "issued for another application",
    "wrong_issuer": "issued by another authority",
    "expired": "has expired",
    "foreign_key": "signature is not the tenant",
    "replayed_nonce": "not issued for this sign-in",
}
REASONS = {"foreign_key": "bad_signature"}


def _snapshot(user):
    user.refresh_from_db()
    return (user.last_login, user.roles, user.is_active, user.full_name)


@pytest.fixture
def signed_up(entra_simulator):
    """A person who signed in once (so the portal has their account)."""
    configure(entra_simulator)
    person = entra_simulator.add_user("hal@partner.example", roles=["Portal.HelpdeskAgent"])
    assert sign_in(Client(), entra_simulator, person).status_code == 302
    return person, User.objects.get(email="hal@partner.example")


@pytest.mark.parametrize("mode", sorted(MESSAGES))
def test_a_bad_id_token_is_refused(mode, entra_simulator, signed_up):
    person, user = signed_up
    person["roles"] = ["Portal.GlobalAdmin"]  # would change the user if admitted
    before = _snapshot(user)
    entra_simulator.bad_id_token = mode
    client = Client()
    response = sign_in(client, entra_simulator, person)
    assert response.status_code == 403
    assert MESSAGES[mode] in response.content.decode().replace("&#x27;", "'")
    assert signed_in_user_id(client) is None
    assert _snapshot(user) == before
    refusal = AuditEntry.objects.get(action="sso_sign_in.refused")
    assert refusal.after["reason"] == REASONS.get(mode, mode)


def test_a_replayed_state_is_refused(entra_simulator, signed_up):
    person, user = signed_up
    client = Client()
    callback = callback_url(client)
    assert client.get(callback).status_code == 302
    client.logout()
    person["roles"] = ["Portal.GlobalAdmin"]
    response = client.get(callback)
    assert response.status_code == 403
    assert "already used or has expired" in response.content.decode()
    assert signed_in_user_id(client) is None
    user.refresh_from_db()
    assert user.roles == [Role.HELPDESK_AGENT]
    assert AuditEntry.objects.get(action="sso_sign_in.refused").after["reason"] == (
        "replayed_state"
    )
