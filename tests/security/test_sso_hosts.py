"""The SSO client secret goes only to the login host it was given for: moving the login URL
needs the secret again, and a discovery document naming endpoints on another host is refused
before anything is sent there (a Global admin's account in an attacker's hands)."""

import json

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from core.models import AuditEntry
from simulators.http import SimulatorServer
from sso import services
from sso.models import SsoSettings
from tests.sso.helpers import LOGIN_URL, configure

pytestmark = pytest.mark.django_db


class Trap:
    """A listener that must never be called."""

    def __init__(self):
        self.requests = []

    def __call__(self, environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        self.requests.append((environ["PATH_INFO"], environ["wsgi.input"].read(length)))
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b"{}"]


class HostileDiscovery:
    """The Entra simulator behind another address, whose discovery document sends the token
    endpoint to ``trap_url`` and everything else back to this address."""

    def __init__(self, entra, trap_url):
        self.entra = entra
        self.trap_url = trap_url
        self.base_url = "http://127.0.0.1"

    def __call__(self, environ, start_response):
        answer = {}

        def keep(status, headers, exc_info=None):
            answer.update(status=status, headers=headers)

        body = b"".join(self.entra(environ, keep))
        headers = answer["headers"]
        if environ["PATH_INFO"].endswith("/.well-known/openid-configuration"):
            config = {
                name: value.replace(self.entra.base_url, self.base_url)
                if isinstance(value, str)
                else value
                for name, value in json.loads(body).items()
            }
            config["token_endpoint"] = f"{self.trap_url}/token"
            body = json.dumps(config).encode()
            headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
            headers.append(("Content-Length", str(len(body))))
        start_response(answer["status"], headers)
        return [body]


def test_moving_the_login_host_needs_the_secret_again(entra_simulator):
    configure(entra_simulator)
    with pytest.raises(ValidationError):
        services.update_settings(actor=None, values={"login_url": "https://login.example.net"})
    assert SsoSettings.get().login_url == entra_simulator.base_url
    services.update_settings(
        actor=None, values={"login_url": "https://login.example.net"}, client_secret="new-one"
    )
    assert SsoSettings.get().login_url == "https://login.example.net"


def test_the_page_asks_for_the_secret_when_the_login_host_moves(client_for, entra_simulator):
    settings = configure(entra_simulator)
    response = client_for("global_admin").post(
        reverse("sso:settings"),
        {
            "enabled": "on",
            "tenant_id": str(settings.tenant_id),
            "client_id": settings.client_id,
            "login_url": "https://login.example.net",
            "local_sign_in": "on",
        },
    )
    assert response.status_code == 200
    assert "client_secret" in response.context["form"].errors
    assert SsoSettings.get().login_url == entra_simulator.base_url


def test_a_discovery_document_pointing_elsewhere_is_refused(entra_simulator):
    trap = Trap()
    with SimulatorServer(trap) as trap_server:
        hostile = HostileDiscovery(entra_simulator, trap_server.url)
        with SimulatorServer(hostile) as hostile_server:
            configure(entra_simulator, login_url=hostile_server.url)
            entra_simulator.add_user("eve@partner.example", roles=["Portal.GlobalAdmin"])
            response = Client().get(LOGIN_URL)
    assert response.status_code in (400, 403), response.status_code
    assert "outside the login host" in response.content.decode()
    assert trap.requests == []
    assert AuditEntry.objects.filter(
        action="sso_sign_in.refused", after__reason="foreign_endpoint"
    ).exists()
