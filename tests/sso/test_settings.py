"""The settings page, its test sign-in, and ``manage.py configure_sso``."""

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from accounts.models import User
from core.models import AuditEntry
from sso.models import SsoSettings
from tests.sso.helpers import callback_url, configure

pytestmark = pytest.mark.django_db
URL = reverse("sso:settings")
GROUP = "5d8c3c57-2f2e-4a55-9b44-0d0b8a1e6f10"


def form(entra, **changes):
    return {
        "enabled": "on",
        "tenant_id": entra.tenant_id,
        "client_id": entra.client_id,
        "client_secret": entra.client_secret,
        "login_url": entra.base_url,
        "local_sign_in": "on",
        "group_roles": f"{GROUP} helpdesk_agent",
        **changes,
    }


def test_a_global_admin_saves_the_settings_and_the_secret_stays_hidden(client_for, entra_simulator):
    admin = client_for("global_admin")
    response = admin.post(URL, form(entra_simulator))
    assert response.status_code == 302
    settings = SsoSettings.get()
    assert settings.enabled and settings.client_secret == entra_simulator.client_secret
    assert settings.group_roles == {GROUP: "helpdesk_agent"}
    assert settings.authority == f"{entra_simulator.base_url}/{entra_simulator.tenant_id}/v2.0"
    page = admin.get(URL).content.decode()
    assert entra_simulator.client_secret not in page
    assert "/accounts/oidc/entra/login/callback/" in page
    entry = AuditEntry.objects.get(action="sso_settings.updated")
    assert entry.after["client_secret"] == "changed"
    assert entra_simulator.client_secret not in str(entry.after)


def test_a_bad_group_line_is_refused(client_for, entra_simulator):
    response = client_for("global_admin").post(
        URL, form(entra_simulator, group_roles="not-a-guid helpdesk_agent")
    )
    assert response.status_code == 200
    assert "Line 1" in str(response.context["form"].errors["group_roles"])
    assert not SsoSettings.get().enabled


def test_the_test_sign_in_shows_the_claims_and_roles_and_signs_nobody_in(
    client_for, entra_simulator
):
    configure(entra_simulator, enabled=False)
    person = entra_simulator.add_user("jo@partner.example", roles=["Portal.AdminAgent"])
    admin = client_for("global_admin")
    admin_id = admin.session["_auth_user_id"]
    response = admin.get(callback_url(admin, reverse("sso:test_start")))
    assert response["Location"] == reverse("sso:test_result")
    page = admin.get(response["Location"]).content.decode()
    assert "admin_agent" in page
    assert person["oid"] in page
    assert admin.session["_auth_user_id"] == admin_id
    assert not User.objects.filter(email="jo@partner.example").exists()
    assert AuditEntry.objects.get(action="sso_sign_in.tested").after["roles"] == ["admin_agent"]


def test_a_refused_test_sign_in_shows_why(client_for, entra_simulator):
    configure(entra_simulator, enabled=False)
    entra_simulator.add_user("kai@partner.example", roles=["Portal.AdminAgent"])
    entra_simulator.bad_id_token = "wrong_audience"
    admin = client_for("global_admin")
    response = admin.get(callback_url(admin, reverse("sso:test_start")))
    page = admin.get(response["Location"]).content.decode()
    assert "issued for another application" in page


def test_configure_sso_turns_it_on_at_once(entra_simulator, tmp_path, client):
    secret = tmp_path / "secret"
    secret.write_text(entra_simulator.client_secret + "\n")
    call_command(
        "configure_sso",
        "--tenant-id",
        entra_simulator.tenant_id,
        "--client-id",
        entra_simulator.client_id,
        "--client-secret-file",
        str(secret),
        "--login-url",
        entra_simulator.base_url + "/",
        "--entra-enforces-mfa",
        stdout=open("/dev/null", "w"),  # noqa: SIM115
    )
    settings = SsoSettings.get()
    assert (settings.enabled, settings.entra_enforces_mfa, settings.local_sign_in) == (
        True,
        True,
        True,
    )
    assert settings.login_url == entra_simulator.base_url
    assert 'data-testid="sso-sign-in"' in client.get(reverse("account_login")).content.decode()


def test_configure_sso_refuses_a_bad_tenant(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s")
    with pytest.raises(CommandError, match="GUID"):
        call_command(
            "configure_sso",
            "--tenant-id",
            "contoso",
            "--client-id",
            "c",
            "--client-secret-file",
            str(secret),
        )
    assert not SsoSettings.get().enabled


def test_anyone_but_a_global_admin_is_kept_out(client_for):
    # No access at all: not found (accounts.permissions).
    assert client_for("user_management_admin").get(URL).status_code == 404
    assert Client().get(URL).status_code == 302
