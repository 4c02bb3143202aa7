"""Connecting the portal to the Entra ID simulator, for the Microsoft connection's tests."""

from urllib.parse import parse_qs, urlsplit

import requests
from django.urls import reverse

from microsoft import services
from microsoft.models import MicrosoftConnection

CONSENT_URL = reverse("microsoft:consent")
CALLBACK_URL = reverse("microsoft:consent_callback")


def connect(simulator, actor=None, refresh_token=None, **api_urls):
    """Connect with the simulator's app and a freshly consented refresh token, reaching Microsoft's
    APIs at ``api_urls`` (``graph_url``, ``partner_center_url``); returns the connection and the
    refresh token given."""
    token = refresh_token or simulator.issue_refresh_token()
    connection = services.connect(
        actor=actor,
        tenant_id=simulator.tenant_id,
        client_id=simulator.client_id,
        client_secret=simulator.client_secret,
        refresh_token=token,
        login_url=simulator.base_url,
        **api_urls,
    )
    return connection, token


def stored():
    return MicrosoftConnection.objects.get(pk=1)


def sign_in(client, simulator):
    """Follow the page's link to the simulator and back: Microsoft's answer as a query dict."""
    response = client.get(CONSENT_URL)
    assert response.status_code == 302
    authorize = response["Location"]
    assert authorize.startswith(
        f"{simulator.base_url}/{simulator.tenant_id}/oauth2/v2.0/authorize?"
    )
    answer = requests.get(authorize, allow_redirects=False, timeout=5)
    assert answer.status_code == 302
    back = urlsplit(answer.headers["Location"])
    assert back.path == CALLBACK_URL
    return {key: values[0] for key, values in parse_qs(back.query).items()}
