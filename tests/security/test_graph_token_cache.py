"""A Graph token is cached per token URL, client id and client secret: after the secret changes
(rotated, or corrected after a typo) the next call fetches a token with the new one."""

import json
import threading
from urllib.parse import parse_qs

import pytest

from core.outbound import graph_client
from outbound import graph
from outbound.graph import GraphConnection
from simulators.http import SimulatorServer

TENANT_ID = "11111111-2222-3333-4444-555555555555"
FIRST_SECRET = "first-graph-client-secret"
SECOND_SECRET = "second-graph-client-secret"


class TokenEndpoint:
    """A token endpoint that hands out a new token per request and records the client secret
    each was asked with; GET /v1.0/me answers with the bearer token it was called with."""

    def __init__(self):
        self.secrets = []
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        if environ["REQUEST_METHOD"] == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            form = parse_qs(environ["wsgi.input"].read(length).decode())
            with self.lock:
                self.secrets.append(form["client_secret"][0])
                body = {"access_token": f"token-{len(self.secrets)}", "expires_in": 3600}
        else:
            authorization = environ.get("HTTP_AUTHORIZATION", "")
            body = {"token": authorization.removeprefix("Bearer ")}
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(body).encode()]


@pytest.fixture
def token_endpoint(db):
    endpoint = TokenEndpoint()
    graph.clear_token_cache()
    with SimulatorServer(endpoint) as server:
        endpoint.url = server.url
        yield endpoint
    graph.clear_token_cache()


def client(endpoint, secret):
    return graph_client(
        GraphConnection(
            base_url=f"{endpoint.url}/v1.0",
            token_url=endpoint.url + "/{tenant_id}/oauth2/v2.0/token",
            tenant_id=TENANT_ID,
            client_id="portal-app",
            client_secret=secret,
        )
    )


def test_a_changed_client_secret_fetches_a_new_token(token_endpoint):
    assert client(token_endpoint, FIRST_SECRET).get_json("/me") == {"token": "token-1"}
    # The same app and secret reuse the cached token.
    assert client(token_endpoint, FIRST_SECRET).get_json("/me") == {"token": "token-1"}
    assert token_endpoint.secrets == [FIRST_SECRET]

    assert client(token_endpoint, SECOND_SECRET).get_json("/me") == {"token": "token-2"}
    assert token_endpoint.secrets == [FIRST_SECRET, SECOND_SECRET]


def test_the_token_cache_does_not_hold_the_secret(token_endpoint):
    client(token_endpoint, SECOND_SECRET).get_json("/me")
    assert graph._token_cache
    assert SECOND_SECRET not in repr(list(graph._token_cache))
