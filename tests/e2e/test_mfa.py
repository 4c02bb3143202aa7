"""In a real browser, with MFA_REQUIRED: a person without a second factor enrols at sign-in, keeps
their recovery codes, and signs in with a code from then on."""

import os
import re

import pytest
from playwright.sync_api import expect

from tests.e2e.test_sign_in import sign_in_again_with_a_code, totp_now

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def mfa_required(settings):
    settings.MFA_REQUIRED = True


def screenshot(page, name):
    """For a person to look at the pages: PORTAL_E2E_SCREENSHOTS=<folder> keeps them there."""
    folder = os.environ.get("PORTAL_E2E_SCREENSHOTS")
    if folder:
        page.screenshot(path=os.path.join(folder, f"{name}.png"), full_page=True)


def test_a_person_without_mfa_enrols_at_sign_in_then_signs_in_with_a_code(
    page, live_server, cast, sign_in, csp_violations, password, mfa_required
):
    user = cast["helpdesk_agent"]
    sign_in(page, user)
    # allauth asks for the password once more before any MFA change; the page says why.
    expect(page).to_have_url(re.compile(r"/accounts/reauthenticate/"))
    expect(page.get_by_test_id("mfa-required")).to_be_visible()
    screenshot(page, "mfa-confirm-password")
    page.fill("input[name=password]", password)
    page.get_by_role("button", name="Confirm").click()

    expect(page).to_have_url(re.compile(r"/accounts/2fa/totp/activate/$"))
    expect(page.get_by_test_id("mfa-required")).to_contain_text(
        "Two-factor authentication is required"
    )
    expect(page.get_by_role("navigation", name="Main")).to_have_count(0)
    screenshot(page, "mfa-enrolment")
    # Nothing else opens until the authenticator is set up.
    page.goto(f"{live_server.url}/customers/")
    expect(page).to_have_url(re.compile(r"/accounts/2fa/totp/activate/$"))

    secret = page.locator("#authenticator_secret").input_value()
    assert len(secret) >= 16
    page.fill("input[name=code]", totp_now(secret))
    page.get_by_role("button", name="Activate").click()

    expect(page.get_by_role("heading", level=1)).to_contain_text("Recovery Codes")
    screenshot(page, "mfa-recovery-codes")
    codes = page.locator("#recovery_codes").input_value().split()
    assert len(codes) == 10
    assert user.authenticator_set.filter(type="totp").exists()
    page.get_by_test_id("mfa-done").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Good to see you")
    expect(page.get_by_role("navigation", name="Main")).to_contain_text("Customers")

    sign_in_again_with_a_code(page, sign_in, user, secret)
    page.goto(f"{live_server.url}/customers/")
    expect(page).to_have_url(re.compile(r"/customers/$"))
    assert csp_violations == []
