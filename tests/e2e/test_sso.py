"""In a real browser: "Sign in with Microsoft" through the Entra ID simulator."""

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from accounts.models import User
from accounts.roles import Role
from tests.sso.helpers import configure

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_sign_in_with_microsoft(page, live_server, entra_simulator, csp_violations):
    call_command("sync_roles", verbosity=0)
    configure(entra_simulator)
    entra_simulator.add_user(
        "sami@partner.example", name="Sami Entra", roles=["Portal.HelpdeskAgent"]
    )
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_test_id("sso-sign-in").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Good to see you")
    expect(page.locator(".topbar")).to_contain_text("Sami Entra")
    assert User.objects.get(email="sami@partner.example").roles == [Role.HELPDESK_AGENT]
    assert csp_violations == []
