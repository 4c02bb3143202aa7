"""The connection page's test buttons: one call per API as the partner, answered on the page
and stored nowhere. The APIs are a loopback server that checks the Entra simulator's tokens."""

import pytest
from django.urls import reverse

from core.models import AuditEntry
from microsoft.models import MicrosoftConnection
from simulators.http import SimulatorServer
from tests.microsoft.helpers import connect, stored

pytestmark = pytest.mark.django_db


class TokenCheckingApi:
    """Answers 200 to a bearer token the Entra simulator issued for the partner tenant, 401
    otherwise; ``status`` scripts another answer."""

    def __init__(self, entra):
        self.entra = entra
        self.requests = []
        self.status = None

    def __call__(self, environ, start_response):
        bearer = environ.get("HTTP_AUTHORIZATION", "").removeprefix("Bearer ")
        self.requests.append((environ["PATH_INFO"], environ.get("QUERY_STRING", "")))
        info = self.entra.token_info(bearer)
        status = self.status or (200 if info and info[0] == self.entra.tenant_id else 401)
        start_response(f"{status} Status", [("Content-Type", "application/json")])
        return [b'{"value": []}']


@pytest.fixture
def api(entra_simulator):
    connect(entra_simulator)
    with SimulatorServer(TokenCheckingApi(entra_simulator)) as server:
        MicrosoftConnection.objects.update(graph_url=server.url, partner_center_url=server.url)
        yield server.app


def press(client, name):
    response = client.post(reverse("microsoft:test_api", args=[name]), follow=True)
    assert response.status_code == 200
    return [str(message) for message in response.context["messages"]]


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("partner_center", "/v1/servicerequests/supporttopics"),
        ("graph", "/v1.0/tenantRelationships/delegatedAdminCustomers"),
    ],
)
def test_each_api_is_called_as_the_partner(client_for, api, name, path):
    messages = press(client_for("global_admin"), name)
    assert messages == [messages[0]] and "answered 200 as the partner" in messages[0]
    assert api.requests[-1][0] == path


def test_a_refusing_api_is_shown_and_the_connection_is_unchanged(client_for, api):
    api.status = 403
    messages = press(client_for("global_admin"), "graph")
    assert "403" in messages[0]
    assert stored().state == MicrosoftConnection.State.CONNECTED
    assert stored().last_error == ""


def test_the_entra_probe_redeems_the_refresh_token(client_for, api, entra_simulator):
    before = stored().refresh_token
    messages = press(client_for("global_admin"), "entra")
    assert "redeemed" in messages[0]
    assert stored().refresh_token != before


def test_an_unknown_api_is_not_found(client_for, api):
    response = client_for("global_admin").post(reverse("microsoft:test_api", args=["bing"]))
    assert response.status_code == 404
    assert not AuditEntry.objects.filter(action__startswith="microsoft_connection.t").exists()


def test_before_consent_a_probe_says_so(client_for, entra_simulator):
    messages = press(client_for("global_admin"), "graph")
    assert "not consented" in messages[0]
