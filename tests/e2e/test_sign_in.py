"""In a real browser: sign in, set up TOTP, sign out, and what a helpdesk agent does not see."""

import re
import time

import pytest
from playwright.sync_api import expect

from tests.accounts.test_mfa import TOTP_PERIOD, code_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
# A code typed in the last seconds of its window may reach the server in the next one: code_for
# waits for a fresh window.
totp_now = code_for


def wait_for_next_totp_window():
    # allauth refuses a code twice; the second sign-in needs the next window's code.
    time.sleep(TOTP_PERIOD - time.time() % TOTP_PERIOD + 0.5)


def sign_in_again_with_a_code(page, sign_in, user, secret):
    """Signs out and back in, typing the next window's code from the authenticator ``secret``."""
    page.get_by_test_id("sign-out").click()
    wait_for_next_totp_window()
    sign_in(page, user)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Two-Factor Authentication")
    page.fill("input[name=code]", totp_now(secret))
    page.locator("main button[type=submit]").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Good to see you")


def test_sign_in_and_out(page, live_server, cast, sign_in, csp_violations):
    sign_in(page, cast["helpdesk_agent"])
    expect(page.get_by_role("heading", level=1)).to_contain_text("Good to see you")
    expect(page.locator(".topbar")).to_contain_text(cast["helpdesk_agent"].get_full_name())
    page.get_by_test_id("sign-out").click()
    page.goto(f"{live_server.url}/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    assert csp_violations == []


def test_wrong_password_shows_an_error(page, live_server, cast, sign_in):
    sign_in(page, cast["helpdesk_agent"], password="not-the-password")
    expect(page.locator("body")).to_contain_text("not correct")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))


def test_set_up_totp_then_sign_in_with_a_code(
    page, live_server, cast, sign_in, csp_violations, password
):
    user = cast["admin_agent"]
    sign_in(page, user)
    page.goto(f"{live_server.url}/profile/")
    page.get_by_role("link", name="Two-factor authentication").click()
    page.get_by_role("link", name="Activate").click()
    if "/reauthenticate/" in page.url:
        # Changing MFA asks for the password again (allauth's re-authentication).
        page.fill("input[name=password]", password)
        page.get_by_role("button", name="Confirm").click()
    secret = page.locator("#authenticator_secret").input_value()
    assert len(secret) >= 16
    page.fill("input[name=code]", totp_now(secret))
    page.get_by_role("button", name="Activate").click()
    expect(page.locator("body")).to_contain_text("Recovery Codes")
    assert user.authenticator_set.filter(type="totp").exists()

    sign_in_again_with_a_code(page, sign_in, user, secret)
    assert csp_violations == []


def test_a_helpdesk_agent_does_not_see_the_staff_page(page, live_server, cast, sign_in):
    sign_in(page, cast["helpdesk_agent"])
    expect(page.get_by_role("heading", level=1)).to_contain_text("Good to see you")
    expect(page.locator("nav")).not_to_contain_text("Staff")
    response = page.goto(f"{live_server.url}/staff/")
    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_contain_text("Page not found")


def test_a_user_management_admin_invites_from_the_staff_page(
    page, live_server, cast, sign_in, mailoutbox
):
    sign_in(page, cast["user_management_admin"])
    page.get_by_role("link", name="Staff", exact=True).click()
    page.get_by_role("link", name="Invite staff").click()
    page.fill("input[name=email]", "not-an-email")
    page.fill("input[name=full_name]", "Deniz Arslan")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.locator(".field-errors")).to_contain_text("valid email")
    page.fill("input[name=email]", "deniz@partner.example")
    page.get_by_label("Helpdesk agent").check()
    page.get_by_role("button", name="Send invitation").click()
    expect(page.locator(".messages")).to_contain_text("Invitation sent to deniz@partner.example")
    expect(page.locator("table")).to_contain_text("Deniz Arslan")
    expect(page.locator("table")).to_contain_text("Invited")
    # The Global admin role is not offered to a User management admin.
    page.goto(f"{live_server.url}/staff/invite/")
    expect(page.get_by_label("Global admin")).to_have_count(0)


def test_the_language_switcher_turns_the_page_turkish(page, live_server, cast, sign_in):
    sign_in(page, cast["helpdesk_agent"])
    page.select_option("#language-select", "tr")
    expect(page.locator("html")).to_have_attribute("lang", "tr")
    expect(page.get_by_test_id("sign-out")).to_have_text("Çıkış yap")


def test_a_user_ends_their_other_sessions_from_the_profile(
    page, browser, live_server, cast, sign_in, csp_violations
):
    user = cast["helpdesk_agent"]
    other = browser.new_context(user_agent="Another browser of the same person")
    try:
        other_page = other.new_page()
        sign_in(other_page, user)
        expect(other_page.get_by_role("heading", level=1)).to_contain_text("Good to see you")

        sign_in(page, user)
        expect(page.get_by_role("heading", level=1)).to_contain_text("Good to see you")
        page.goto(f"{live_server.url}/profile/")
        page.get_by_role("link", name="Your sessions").click()
        sessions = page.get_by_test_id("sessions")
        expect(sessions.locator("tbody tr")).to_have_count(2)
        expect(sessions).to_contain_text("Another browser of the same person")
        expect(sessions).to_contain_text("This session")
        page.get_by_test_id("end-other-sessions").click()
        expect(page.get_by_test_id("sessions").locator("tbody tr")).to_have_count(1)

        other_page.goto(f"{live_server.url}/customers/")
        expect(other_page).to_have_url(re.compile(r"/accounts/login/\?next=/customers/"))
    finally:
        other.close()
    assert csp_violations == []
