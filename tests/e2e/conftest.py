import pytest

from tests.factories import PASSWORD


@pytest.fixture
def sign_in(live_server):
    def sign_in(page, user, password=PASSWORD):
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("input[name=login]", user.email)
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")

    return sign_in


@pytest.fixture
def csp_violations(page):
    """Console messages about the Content-Security-Policy, collected while the test runs."""
    messages = []
    page.on(
        "console",
        lambda message: (
            messages.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    return messages
