"""What MFA_REQUIRED leaves alone: people who have a second factor, the development demo (off),
and password-reset links, which now follow PORTAL_BASE_URL. The rules themselves are in
tests/security/test_mfa_required.py and test_link_host.py."""

import re

import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.test import Client
from django.urls import reverse

from accounts.models import ApiClient
from accounts.roles import Role
from tests.accounts.test_mfa import code_for, second_factor
from tests.accounts.test_sessions import sign_in

GLOBAL_ADMIN = "global-admin@partner.example"


@pytest.fixture
def mfa_required(settings):
    settings.MFA_REQUIRED = True


def test_a_person_with_mfa_signs_in_with_the_code_and_reaches_the_portal(
    mfa_required, cast, password
):
    secret = generate_totp_secret()
    TOTP.activate(cast["helpdesk_agent"], secret)
    client = Client()
    assert sign_in(client, password)["Location"] == reverse("mfa_authenticate")
    second_factor(client, code_for(secret))
    response = client.get(reverse("customers:list"))
    assert response.status_code == 200
    assert response.context["navigation"] != []
    assert client.get(reverse("api-v1:me")).status_code == 200


def test_a_session_signed_in_with_the_code_may_create_api_tokens(mfa_required, cast, password):
    secret = generate_totp_secret()
    TOTP.activate(cast["global_admin"], secret)
    client = Client()
    sign_in(client, password, email=GLOBAL_ADMIN)
    second_factor(client, code_for(secret))
    response = client.post(
        reverse("accounts:api_client_create"),
        {"name": "ConnectWise", "role": Role.HELPDESK_AGENT, "scope_customers": "read"},
    )
    assert response.status_code == 200
    assert response.context["token"]
    assert ApiClient.objects.filter(name="ConnectWise").exists()


def test_without_mfa_required_nobody_is_sent_to_enrolment(settings, cast, password):
    settings.MFA_REQUIRED = False
    client = Client()
    sign_in(client, password, email=GLOBAL_ADMIN)
    assert client.get(reverse("dashboard:index")).status_code == 200
    assert client.get(reverse("api-v1:me")).status_code == 200
    # Nor asked for a second factor before creating an API token.
    assert client.get(reverse("accounts:api_client_create")).status_code == 200


def test_the_reset_link_built_on_the_portal_address_works(cast, mailoutbox, settings):
    settings.PORTAL_BASE_URL = "http://testserver"
    Client().post(reverse("account_reset_password"), {"email": "helpdesk-agent@partner.example"})
    link = re.search(r"http://testserver/accounts/password/reset/key/\S+", mailoutbox[0].body)
    browser = Client()
    response = browser.get(link.group(0), follow=True)
    assert response.status_code == 200
    new = "a-brand-new-passphrase"
    response = browser.post(response.redirect_chain[-1][0], {"password1": new, "password2": new})
    assert response.status_code == 302
    cast["helpdesk_agent"].refresh_from_db()
    assert cast["helpdesk_agent"].check_password(new)
