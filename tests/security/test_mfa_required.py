"""MFA_REQUIRED: a second factor for everyone, API tokens only from a session verified with it,
and a Global admin's reset of someone's authenticators.

Before, two-factor authentication was optional: a stolen password alone opened any account,
including a Global admin's, and could mint long-lived API tokens.
"""

from urllib.parse import parse_qs, urlsplit

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import SECRET_SESSION_KEY, TOTP, generate_totp_secret
from django.test import Client
from django.urls import reverse
from knox.models import AuthToken

from accounts import services
from accounts.models import ApiClient
from accounts.roles import Role
from core.models import AuditEntry
from tests.accounts.test_mfa import code_for
from tests.accounts.test_sessions import reauthenticate, sign_in
from tests.test_settings import PRODUCTION, run_django

PORTAL = "https://portal.partner.example"


@pytest.fixture
def mfa_required(settings):
    settings.MFA_REQUIRED = True


def enrol(user):
    """An authenticator app and recovery codes, as allauth's enrolment leaves them."""
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    RecoveryCodes.activate(user)
    return secret


def assert_sent_to_enrolment(response):
    assert response.status_code == 302, response.status_code
    assert response["Location"] == reverse("mfa_activate_totp")


# --- The setting ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (PRODUCTION, True),
        ({**PRODUCTION, "MFA_REQUIRED": "false"}, False),
        ({}, False),
        ({"MFA_REQUIRED": "true"}, True),
    ],
)
def test_mfa_is_required_by_default_in_production_only(env, expected, tmp_path):
    result = run_django(env, "print(settings.MFA_REQUIRED)", tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(expected)


# --- Enrolment before anything else ----------------------------------------------------------


def test_after_password_sign_in_a_person_without_mfa_is_sent_to_enrolment(
    mfa_required, cast, password
):
    client = Client()
    response = sign_in(client, password)
    assert_sent_to_enrolment(client.get(response["Location"]))
    # allauth asks for the password again before any MFA change; the page says why.
    confirm = client.get(reverse("mfa_activate_totp"))
    assert urlsplit(confirm["Location"]).path == reverse("account_reauthenticate")
    page = client.get(confirm["Location"])
    assert b'data-testid="mfa-required"' in page.content
    assert page.context["navigation"] == []
    reauthenticate(client, password)
    page = client.get(reverse("mfa_activate_totp"))
    assert page.status_code == 200
    assert b'data-testid="mfa-required"' in page.content
    assert page.context["navigation"] == []


@pytest.mark.parametrize(
    ("method", "url_name"),
    [
        ("get", "dashboard:index"),
        ("get", "customers:list"),
        ("get", "accounts:profile"),
        ("get", "usersessions_list"),
        ("get", "account_change_password"),
        ("get", "mfa_view_recovery_codes"),
        ("post", "servicerequests:create"),
    ],
)
def test_nothing_else_is_reachable_until_enrolled(mfa_required, cast, method, url_name):
    client = Client()
    client.force_login(cast["global_admin"])
    assert_sent_to_enrolment(getattr(client, method)(reverse(url_name)))


def test_django_admin_is_not_reachable_either(mfa_required, cast):
    operator = cast["global_admin"]
    operator.is_staff = True
    operator.save(update_fields=["is_staff"])
    client = Client()
    client.force_login(operator)
    assert_sent_to_enrolment(client.get("/django-admin/"))


def test_enrolment_re_authentication_sign_out_language_and_health_stay_reachable(
    mfa_required, cast, password
):
    client = Client()
    sign_in(client, password)
    assert_sent_to_enrolment(client.get(reverse("dashboard:index")))
    assert client.get(reverse("account_reauthenticate")).status_code == 200
    reauthenticate(client, password)
    assert client.get(reverse("mfa_activate_totp")).status_code == 200
    assert client.get(reverse("mfa_index")).status_code == 200
    assert client.get(reverse("core:healthz")).status_code == 200
    switched = client.post(reverse("set_language"), {"language": "tr", "next": "/healthz"})
    assert switched.status_code == 302
    assert switched["Location"] == "/healthz"
    static = client.get("/static/css/portal.css")
    assert static.status_code in (200, 404)  # served by WhiteNoise when collected
    signed_out = client.post(reverse("account_logout"))
    assert signed_out.status_code == 302
    assert "_auth_user_id" not in client.session


def test_a_browser_session_calling_the_api_is_refused_with_a_reason(
    mfa_required, cast, api_token_for
):
    client = Client()
    client.force_login(cast["helpdesk_agent"])
    response = client.get(reverse("api-v1:customer-list"))
    assert response.status_code == 403
    error = response.json()["errors"][0]
    assert error["code"] == "mfa_enrolment_required"
    assert "two-factor authentication" in error["detail"]
    # API clients are not people: their tokens go on working.
    token = api_token_for(Role.HELPDESK_AGENT, scopes=["read"])
    response = Client().get(reverse("api-v1:customer-list"), HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200


def test_enrolment_shows_the_recovery_codes_then_leads_into_the_portal(
    mfa_required, cast, password
):
    client = Client()
    sign_in(client, password)
    reauthenticate(client, password)
    client.get(reverse("mfa_activate_totp"))
    secret = client.session[SECRET_SESSION_KEY]

    response = client.post(reverse("mfa_activate_totp"), {"code": code_for(secret)})

    assert response.status_code == 302
    assert response["Location"] == reverse("mfa_view_recovery_codes")
    codes = client.get(response["Location"])
    assert codes.status_code == 200
    assert len(codes.context["unused_codes"]) == 10
    assert codes.context["unused_codes"][0] in codes.content.decode()
    assert f'href="{reverse("dashboard:index")}" data-testid="mfa-done"' in codes.content.decode()
    dashboard = client.get(reverse("dashboard:index"))
    assert dashboard.status_code == 200
    assert dashboard.context["navigation"] != []


# --- API tokens only from a session verified with the second factor --------------------------


def test_api_tokens_need_a_session_signed_in_with_the_second_factor(mfa_required, cast):
    secret = enrol(cast["global_admin"])
    existing, _token = services.create_api_client(
        name="Existing", role=Role.HELPDESK_AGENT, scopes=["read"]
    )
    tokens_before = AuthToken.objects.count()
    client = Client()
    client.force_login(cast["global_admin"])  # a session without a second factor

    page = client.get(reverse("accounts:api_client_create"))
    assert page.status_code == 403
    reauthenticate = page.context["reauthenticate_url"]
    assert urlsplit(reauthenticate).path == reverse("mfa_reauthenticate")
    assert parse_qs(urlsplit(reauthenticate).query)["next"] == [
        reverse("accounts:api_client_create")
    ]
    assert reauthenticate.replace("&", "&amp;") in page.content.decode()
    created = client.post(
        reverse("accounts:api_client_create"),
        {"name": "Sneaky", "role": Role.GLOBAL_ADMIN, "scope_customers": "write"},
    )
    assert created.status_code == 403
    assert client.post(reverse("accounts:api_client_rotate", args=[existing.pk])).status_code == 403
    assert not ApiClient.objects.filter(name="Sneaky").exists()
    assert AuthToken.objects.count() == tokens_before

    confirmed = client.post(reauthenticate, {"code": code_for(secret)})
    assert confirmed.status_code == 302
    assert confirmed["Location"] == reverse("accounts:api_client_create")
    assert client.get(reverse("accounts:api_client_create")).status_code == 200
    rotated = client.post(reverse("accounts:api_client_rotate", args=[existing.pk]))
    assert rotated.status_code == 200
    assert AuthToken.objects.count() == tokens_before + 1


# --- A Global admin resets someone's MFA -----------------------------------------------------


@pytest.fixture
def reset(client_for, django_capture_on_commit_callbacks):
    def post(principal, member):
        with django_capture_on_commit_callbacks(execute=True):
            return client_for(principal).post(reverse("accounts:staff_mfa_reset", args=[member.pk]))

    return post


def test_a_global_admin_resets_a_persons_mfa(
    reset, cast, client_for, mailoutbox, settings, password, mfa_required
):
    settings.PORTAL_BASE_URL = PORTAL
    enrol(cast["global_admin"])
    member = cast["helpdesk_agent"]
    enrol(member)
    their_browser = client_for("helpdesk_agent")
    assert their_browser.get(reverse("dashboard:index")).status_code == 200

    response = reset("global_admin", member)

    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:staff_edit", args=[member.pk])
    assert not Authenticator.objects.filter(user=member).exists()
    after = their_browser.get(reverse("dashboard:index"))
    assert after.status_code == 302
    assert after["Location"].startswith(reverse("account_login"))
    entry = AuditEntry.objects.get(action="staff.mfa_reset")
    assert entry.actor == cast["global_admin"]
    assert entry.target_id == str(member.pk)
    assert entry.before == {"authenticators": ["recovery_codes", "totp"]}
    assert [message.to for message in mailoutbox] == [[member.email]]
    message = mailoutbox[0]
    assert "two-factor authentication" in message.subject
    assert f"{PORTAL}/accounts/login/" in message.body
    assert f'href="{PORTAL}/accounts/login/"' in message.alternatives[0][0]
    # Their next sign-in asks for no code and leads to enrolment.
    client = Client()
    assert sign_in(client, password)["Location"] == reverse("dashboard:index")
    assert_sent_to_enrolment(client.get(reverse("dashboard:index")))


def test_the_reset_button_shows_to_global_admins_only(client_for, cast):
    member = cast["helpdesk_agent"]
    enrol(member)
    page = reverse("accounts:staff_edit", args=[member.pk])
    assert b'data-testid="reset-mfa"' in client_for("global_admin").get(page).content
    assert b'data-testid="reset-mfa"' not in client_for("user_management_admin").get(page).content


@pytest.mark.parametrize("principal", ["user_management_admin", "admin_agent", "helpdesk_agent"])
def test_nobody_else_may_reset_mfa(reset, principal, cast, mailoutbox):
    member = cast["admin_agent"] if principal == "helpdesk_agent" else cast["helpdesk_agent"]
    enrol(member)
    response = reset(principal, member)
    assert response.status_code == 404
    assert Authenticator.objects.filter(user=member).count() == 2
    assert not AuditEntry.objects.filter(action="staff.mfa_reset").exists()
    assert mailoutbox == []


def test_a_global_admin_cannot_reset_their_own_mfa(reset, client_for, cast, mailoutbox):
    admin = cast["global_admin"]
    enrol(admin)
    page = client_for("global_admin").get(reverse("accounts:staff_edit", args=[admin.pk]))
    assert b'data-testid="reset-mfa"' not in page.content
    response = reset("global_admin", admin)
    assert response.status_code == 302
    assert Authenticator.objects.filter(user=admin).count() == 2
    assert not AuditEntry.objects.filter(action="staff.mfa_reset").exists()
    assert mailoutbox == []
