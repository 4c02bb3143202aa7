"""The simulators' HTTP server (simulators.http) over real loopback connections: a simulator
standing in for a service that keeps connections alive answers HTTP/1.1, many requests to a
connection; the others answer HTTP/1.0 and close each one. No database."""

import http.client
import json
from urllib.parse import urlencode

import pytest

from simulators.http import SimulatorServer
from simulators.service_health.scenarios import bulk

OVERVIEWS = "/v1.0/admin/serviceAnnouncement/healthOverviews"


def token_request(connection, tenant_id):
    form = urlencode(
        {
            "grant_type": "client_credentials",
            "client_id": "partner-portal-demo",
            "client_secret": "demo-graph-secret",
            "scope": "https://graph.microsoft.com/.default",
        }
    )
    connection.request(
        "POST",
        f"/{tenant_id}/oauth2/v2.0/token",
        body=form,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    response = connection.getresponse()
    return response, json.loads(response.read())


def test_a_kept_alive_simulator_answers_many_requests_on_one_connection():
    simulator = bulk(1, 2, 1)
    (tenant_id,) = simulator.tenants
    with SimulatorServer(simulator) as server:
        connection = http.client.HTTPConnection(server.host, server.port, timeout=5)
        # A request with a body first: the body is read whole, nothing is left for the next.
        response, payload = token_request(connection, tenant_id)
        assert (response.status, response.version) == (200, 11)
        bearer = {"Authorization": f"Bearer {payload['access_token']}"}
        for _ in range(3):
            connection.request("GET", OVERVIEWS, headers=bearer)
            response = connection.getresponse()
            assert response.status == 200 and json.loads(response.read())["value"]
        connection.close()
    assert len(simulator.requests) == 4
    assert server.connections_accepted == 1


def test_a_stopped_simulator_ends_its_kept_alive_connections():
    simulator = bulk(1, 2, 1)
    (tenant_id,) = simulator.tenants
    server = SimulatorServer(simulator).start()
    connection = http.client.HTTPConnection(server.host, server.port, timeout=5)
    response, _payload = token_request(connection, tenant_id)
    assert response.status == 200
    server.stop()
    # The connection is still open on this side, but the stopped server answers nothing more.
    with pytest.raises((http.client.HTTPException, OSError)):
        connection.request("GET", OVERVIEWS)
        connection.getresponse()
    connection.close()


def test_other_simulators_answer_http_1_0_and_close_each_connection():
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]

    with SimulatorServer(app) as server:
        connection = http.client.HTTPConnection(server.host, server.port, timeout=5)
        for _ in range(2):
            connection.request("GET", "/")
            response = connection.getresponse()
            assert (response.version, response.read()) == (10, b"ok")
        connection.close()
    assert server.connections_accepted == 2


def test_an_answer_without_a_length_ends_a_kept_alive_connection():
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"one", b"two"]  # two blocks: wsgiref cannot tell the length

    app.keep_alive = True
    with SimulatorServer(app) as server:
        connection = http.client.HTTPConnection(server.host, server.port, timeout=5)
        connection.request("GET", "/")
        response = connection.getresponse()
        assert response.getheader("Connection") == "close"
        assert response.read() == b"onetwo"
        connection.close()
    assert server.connections_accepted == 1
