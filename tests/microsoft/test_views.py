"""The Microsoft connection page: state, settings form, Redeem now, and the broken banner."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from core.models import AuditEntry
from microsoft import services
from microsoft.models import MicrosoftConnection
from outbound.entra import TokenRevoked
from tests.microsoft.helpers import connect, stored

pytestmark = pytest.mark.django_db
URL = reverse("microsoft:connection")
REDEEM_URL = reverse("microsoft:redeem")
TENANT = "11111111-2222-3333-4444-555555555555"


def form_data(simulator, **changes):
    return {
        "tenant_id": TENANT,
        "client_id": "portal-app",
        "client_secret": simulator.client_secret,
        "login_url": simulator.base_url,
        "graph_url": "https://graph.microsoft.com",
        "partner_center_url": "https://api.partnercenter.microsoft.com",
        **changes,
    }


def test_the_page_shows_the_state_and_the_expiry_warning(client_for, entra_simulator):
    connect(entra_simulator)
    page = client_for("global_admin").get(URL)
    text = page.content.decode()
    assert 'data-testid="connection-state">Connected<' in text
    assert 'data-testid="expiry-warning"' not in text
    assert entra_simulator.client_secret not in text
    assert stored().refresh_token not in text
    MicrosoftConnection.objects.update(refresh_expires_at=timezone.now() + timedelta(days=13))
    assert 'data-testid="expiry-warning"' in client_for("global_admin").get(URL).content.decode()


def test_before_consent_the_page_offers_the_sign_in_with_its_mfa_notice(client_for):
    text = client_for("global_admin").get(URL).content.decode()
    assert 'data-testid="consent-link"' in text
    assert "multi-factor authentication" in text
    assert "/microsoft/consent/callback/" in text  # the redirect URI to register
    assert "Redeem now" not in text
    assert 'data-testid="api-tests"' not in text


def test_saving_the_settings_is_audited_without_the_secret(client_for, cast, entra_simulator):
    response = client_for("global_admin").post(URL, form_data(entra_simulator))
    assert response.status_code == 302
    connection = stored()
    assert str(connection.tenant_id) == TENANT
    assert connection.client_secret == entra_simulator.client_secret
    entry = AuditEntry.objects.get(action="microsoft_connection.updated")
    assert entry.actor == cast["global_admin"]
    assert entry.after["client_secret"] == services.SECRET_CHANGED
    assert entra_simulator.client_secret not in str(entry.after)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"tenant_id": "contoso"}, "tenant_id"),
        ({"client_id": ""}, "client_id"),
        ({"client_secret": ""}, "client_secret"),
        ({"login_url": "https://login.example/{tenant_id.__class__}"}, "login_url"),
        ({"graph_url": "not a url"}, "graph_url"),
    ],
)
def test_the_form_shows_field_errors(client_for, entra_simulator, changes, field):
    response = client_for("global_admin").post(URL, form_data(entra_simulator, **changes))
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert not AuditEntry.objects.filter(action__startswith="microsoft_connection").exists()


def test_the_secret_may_be_left_empty_unless_the_login_host_moves(client_for, entra_simulator):
    connect(entra_simulator)
    signed_in = client_for("global_admin")
    kept = signed_in.post(URL, form_data(entra_simulator, client_secret="", client_id="portal-app"))
    assert kept.status_code == 302
    assert stored().state == MicrosoftConnection.State.CONNECTED
    moved = signed_in.post(
        URL, form_data(entra_simulator, client_secret="", login_url="https://login.example")
    )
    assert "client_secret" in moved.context["form"].errors


@pytest.mark.parametrize("field", ["graph_url", "partner_center_url"])
def test_moving_a_token_host_needs_the_secret_and_drops_the_refresh_token(
    client_for, entra_simulator, field
):
    """Access tokens go to the Graph and Partner Center hosts: moving either is like moving the
    login host."""
    connect(entra_simulator)
    signed_in = client_for("global_admin")
    moved = form_data(entra_simulator, client_secret="", **{field: "https://attacker.example"})
    refused = signed_in.post(URL, moved)
    assert "client_secret" in refused.context["form"].errors
    assert stored().state == MicrosoftConnection.State.CONNECTED

    given = signed_in.post(URL, {**moved, "client_secret": entra_simulator.client_secret})
    assert given.status_code == 302
    connection = stored()
    assert connection.state == MicrosoftConnection.State.NOT_CONNECTED
    assert connection.refresh_token_encrypted == ""


def test_another_tenant_drops_the_refresh_token(client_for, entra_simulator):
    connect(entra_simulator)
    other = "99999999-2222-3333-4444-555555555555"
    client_for("global_admin").post(URL, form_data(entra_simulator, tenant_id=other))
    connection = stored()
    assert connection.state == MicrosoftConnection.State.NOT_CONNECTED
    assert connection.refresh_token_encrypted == ""


def test_redeem_now_renews_the_token_and_is_audited(client_for, cast, entra_simulator):
    connect(entra_simulator)
    before = stored().refresh_token
    response = client_for("global_admin").post(REDEEM_URL)
    assert response.status_code == 302
    assert stored().refresh_token != before
    entry = AuditEntry.objects.get(action="microsoft_connection.redeemed")
    assert entry.actor == cast["global_admin"]
    assert entry.after == {"state": "connected", "error": ""}


def test_a_broken_connection_shows_a_banner_to_global_admins_only(
    client_for, entra_simulator, django_capture_on_commit_callbacks
):
    connect(entra_simulator)
    entra_simulator.revoke(stored().refresh_token)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(TokenRevoked):
        services.redeem_refresh_token()
    dashboard = reverse("dashboard:index")
    admin_page = client_for("global_admin").get(dashboard).content.decode()
    assert 'data-testid="microsoft-broken-banner"' in admin_page
    assert f'href="{URL}"' in admin_page
    for role in ("admin_agent", "helpdesk_agent", "user_management_admin"):
        page = client_for(role).get(dashboard).content.decode()
        assert 'data-testid="microsoft-broken-banner"' not in page
    error = client_for("global_admin").get(URL).content.decode()
    assert "AADSTS70000" in error and 'data-testid="connection-state">Broken<' in error


def test_a_refresh_token_running_out_is_announced_to_global_admins(client_for, entra_simulator):
    connect(entra_simulator)
    dashboard = reverse("dashboard:index")
    assert (
        "microsoft-expiry-banner" not in client_for("global_admin").get(dashboard).content.decode()
    )
    MicrosoftConnection.objects.update(refresh_expires_at=timezone.now() + timedelta(days=10))
    page = client_for("global_admin").get(dashboard).content.decode()
    assert 'data-testid="microsoft-expiry-banner"' in page and "weekly renewal is failing" in page
    assert (
        "microsoft-expiry-banner" not in client_for("admin_agent").get(dashboard).content.decode()
    )


def test_the_navigation_links_the_page_for_global_admins(client_for):
    assert f'href="{URL}"' in client_for("global_admin").get("/").content.decode()
    assert f'href="{URL}"' not in client_for("admin_agent").get("/").content.decode()


def test_redeem_now_says_why_it_failed(client_for, entra_simulator):
    signed_in = client_for("global_admin")
    not_connected = signed_in.post(REDEEM_URL, follow=True).content.decode()
    assert "has not consented yet" in not_connected
    connect(entra_simulator)
    entra_simulator.revoke(stored().refresh_token)
    revoked = signed_in.post(REDEEM_URL, follow=True).content.decode()
    assert "The refresh failed" in revoked and "AADSTS70000" in revoked
    assert stored().state == MicrosoftConnection.State.BROKEN
    audited = AuditEntry.objects.filter(action="microsoft_connection.redeemed")
    assert [entry.after["state"] for entry in audited.order_by("pk")] == [
        "not_connected",
        "broken",
    ]
