"""Staff sign in with Entra ID: account creation, role mapping on every sign-in, refusals."""

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from accounts.roles import Role
from core.models import AuditEntry
from tests.factories import UserFactory
from tests.sso.helpers import LOGIN_URL, callback_url, configure, sign_in, signed_in_user_id

pytestmark = pytest.mark.django_db
GROUP = "0b9e8a37-5c52-4a0c-9b8e-6bd3c8f0c2a1"


def first_sign_in(entra, email, roles):
    """SSO set up with its defaults, someone new to the portal holding ``roles`` in Entra ID signs
    in on a fresh client: the person, the client and the sign-in's last answer."""
    configure(entra)
    person = entra.add_user(email, roles=roles)
    client = Client()
    return person, client, sign_in(client, entra, person)


def test_the_first_sign_in_with_a_mapped_role_creates_the_account(entra_simulator):
    _person, client, response = first_sign_in(
        entra_simulator, "ada@partner.example", ["Portal.HelpdeskAgent"]
    )
    assert response.status_code == 302
    user = User.objects.get(email="ada@partner.example")
    assert user.roles == [Role.HELPDESK_AGENT]
    assert not user.has_usable_password()
    assert signed_in_user_id(client) == str(user.pk)
    assert AuditEntry.objects.filter(action="staff.sso_created", target_id=str(user.pk)).exists()
    # allauth sent PKCE (S256) and a nonce with the sign-in.
    authorize = [form for method, path, form in entra_simulator.requests if "authorize" in path]
    assert authorize[-1]["code_challenge_method"] == "S256"
    assert len(authorize[-1]["nonce"]) >= 32


def test_roles_follow_entra_on_every_sign_in(entra_simulator):
    configure(entra_simulator, group_roles={GROUP: Role.ADMIN_AGENT.value})
    person = entra_simulator.add_user("bo@partner.example", roles=["Portal.GlobalAdmin"])
    sign_in(Client(), entra_simulator, person)
    assert User.objects.get(email="bo@partner.example").roles == [Role.GLOBAL_ADMIN]
    person["roles"], person["groups"] = [], [GROUP]
    response = sign_in(Client(), entra_simulator, person)
    assert response.status_code == 302
    user = User.objects.get(email="bo@partner.example")
    assert user.roles == [Role.ADMIN_AGENT]
    change = AuditEntry.objects.get(action="staff.sso_roles_changed", target_id=str(user.pk))
    assert change.before["roles"] == ["global_admin"]
    assert change.after["roles"] == ["admin_agent"]


def test_someone_without_a_mapped_role_is_refused(entra_simulator):
    person, client, response = first_sign_in(entra_simulator, "cy@partner.example", ["Other.Role"])
    assert response.status_code == 403
    assert "holds no role in the portal" in response.content.decode()
    assert not User.objects.filter(email="cy@partner.example").exists()
    assert signed_in_user_id(client) is None
    refusal = AuditEntry.objects.get(action="sso_sign_in.refused")
    assert refusal.after["reason"] == "no_role"
    assert refusal.after["oid"] == person["oid"]


def test_a_local_account_with_the_same_address_is_linked_and_takes_the_entra_roles(
    entra_simulator,
):
    configure(entra_simulator)
    local = UserFactory(email="di@partner.example", roles=[Role.HELPDESK_AGENT])
    person = entra_simulator.add_user("Di@partner.example", roles=["Portal.AdminAgent"])
    client = Client()
    assert sign_in(client, entra_simulator, person).status_code == 302
    local.refresh_from_db()
    assert signed_in_user_id(client) == str(local.pk)
    assert local.roles == [Role.ADMIN_AGENT]
    assert local.socialaccount_set.get().uid == person["oid"]


def test_a_deactivated_portal_account_stays_out(entra_simulator):
    configure(entra_simulator)
    UserFactory(email="ed@partner.example", roles=[Role.HELPDESK_AGENT], is_active=False)
    person = entra_simulator.add_user("ed@partner.example", roles=["Portal.GlobalAdmin"])
    response = sign_in(Client(), entra_simulator, person)
    assert response.status_code == 403
    user = User.objects.get(email="ed@partner.example")
    assert (user.is_active, user.roles) == (False, [Role.HELPDESK_AGENT])


def test_sign_in_with_microsoft_is_offered_only_while_on(entra_simulator, client):
    page = client.get(reverse("account_login")).content.decode()
    assert 'data-testid="sso-sign-in"' not in page
    configure(entra_simulator)
    page = client.get(reverse("account_login")).content.decode()
    assert f'href="{LOGIN_URL}"' in page
    assert 'name="password"' in page


def test_password_sign_in_can_be_turned_off(entra_simulator, client):
    configure(entra_simulator, local_sign_in=False)
    user = UserFactory(email="fa@partner.example", roles=[Role.HELPDESK_AGENT])
    assert 'name="password"' not in client.get(reverse("account_login")).content.decode()
    response = client.post(
        reverse("account_login"), {"login": user.email, "password": "correct-horse-battery"}
    )
    assert response.status_code == 200
    assert "turned off" in str(response.context["form"].non_field_errors())
    assert 'data-testid="local-sign-in-off"' in response.content.decode()
    assert signed_in_user_id(client) is None


def test_a_sign_in_while_it_is_off_is_refused(entra_simulator):
    configure(entra_simulator, enabled=False)
    person = entra_simulator.add_user("gu@partner.example", roles=["Portal.GlobalAdmin"])
    client = Client()
    # The login route is served (a test sign-in needs it) but admits nobody.
    response = sign_in(client, entra_simulator, person)
    assert response.status_code == 403
    assert not User.objects.filter(email="gu@partner.example").exists()


def test_someone_without_a_password_confirms_access_with_microsoft(entra_simulator):
    _person, client, _response = first_sign_in(
        entra_simulator, "hu@partner.example", ["Portal.HelpdeskAgent"]
    )
    user_id = signed_in_user_id(client)
    activate = reverse("mfa_activate_totp")
    # Just signed in with Microsoft: that counts as confirming access.
    assert client.get(activate).status_code == 200
    # Later, allauth sends them to Microsoft to confirm (they have no password to type).
    session = client.session
    for record in session["account_authentication_methods"]:
        record["at"] -= 3600
    session.save()
    confirm = client.get(activate)
    assert confirm.status_code == 302
    assert confirm["Location"].startswith(f"{LOGIN_URL}?next=")
    response = client.get(callback_url(client, confirm["Location"]))
    assert response["Location"] == activate
    assert signed_in_user_id(client) == user_id
    assert client.get(activate).status_code == 200
