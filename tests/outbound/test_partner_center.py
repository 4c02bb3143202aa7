"""The Partner Center client against a real HTTP server on 127.0.0.1 (no Django): the headers it
sends, where ``links.next`` may lead, what a 401 does, and what comes back from a POST."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from outbound.partner_center import PartnerCenterClient, PartnerCenterError
from outbound.transport import Transport
from outbound.urlguard import UrlGuard
from tests.helpers import serving

LOOPBACK = UrlGuard(allowed_hosts={"127.0.0.1"})


class Server(ThreadingHTTPServer):
    """Answers each path with the next scripted ``(status, payload)``; records requests."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.answers = {}
        self.requests = []
        self.lock = threading.Lock()
        self.url = f"http://127.0.0.1:{self.server_port}"


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with self.server.lock:
            self.server.requests.append((self.command, self.path, dict(self.headers), body))
            status, payload = self.server.answers[self.path].pop(0)
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _answer


@pytest.fixture
def server():
    with serving(Server()) as running:
        yield running


def client(server, **kwargs):
    tokens = iter(["first-token", "second-token"])
    current = {"token": next(tokens)}
    kwargs.setdefault("forget_token", lambda: current.update(token=next(tokens)))
    return PartnerCenterClient(
        server.url,
        transport=Transport(LOOPBACK),
        token=lambda: current["token"],
        locale="tr-TR",
        **kwargs,
    )


def page(items, next_uri=None, token=None):
    payload = {"totalCount": len(items), "items": items, "links": {}}
    if next_uri:
        payload["links"]["next"] = {
            "uri": next_uri,
            "method": "GET",
            "headers": [{"key": "MS-ContinuationToken", "value": token}],
        }
    return payload


def test_pages_follow_links_written_with_or_without_the_version(server):
    server.answers = {
        "/v1/customers?size=2": [(200, page([1, 2], "/customers?seekOperation=Next", "t1"))],
        "/v1/customers?seekOperation=Next": [
            (200, page([3, 4], "/v1/customers?seekOperation=Next&n=3", "t2"))
        ],
        "/v1/customers?seekOperation=Next&n=3": [(200, page([5]))],
    }
    assert list(client(server).pages("/v1/customers?size=2")) == [1, 2, 3, 4, 5]
    sent = [headers for _m, _p, headers, _b in server.requests]
    assert [h.get("MS-ContinuationToken") for h in sent] == [None, "t1", "t2"]
    assert {h["X-Locale"] for h in sent} == {"tr-TR"}
    assert {h["Authorization"] for h in sent} == {"Bearer first-token"}
    assert len({h["MS-CorrelationId"] for h in sent}) == 3


def test_a_next_link_to_another_host_is_not_followed(server):
    server.answers = {
        "/v1/customers": [(200, page([1], "https://elsewhere.example/v1/customers", "t"))]
    }
    with pytest.raises(PartnerCenterError, match="another host") as raised:
        list(client(server).pages("/v1/customers"))
    assert not raised.value.retryable
    assert len(server.requests) == 1


def test_a_401_is_tried_once_more_with_a_new_token_and_the_same_request_id(server):
    server.answers = {"/v1/customers/x": [(401, {"code": 401}), (200, {"id": "x"})]}
    assert client(server).get("/v1/customers/x", request_id="req-1") == {"id": "x"}
    first, second = (headers for _m, _p, headers, _b in server.requests)
    assert first["MS-RequestId"] == second["MS-RequestId"] == "req-1"
    assert (first["Authorization"], second["Authorization"]) == (
        "Bearer first-token",
        "Bearer second-token",
    )
    assert first["MS-CorrelationId"] != second["MS-CorrelationId"]


def test_errors_carry_partner_centers_description_and_classification(server):
    server.answers = {
        "/v1/servicerequests/en-US": [
            (400, {"code": 2000, "description": "Title is required.", "data": []})
        ]
    }
    with pytest.raises(PartnerCenterError) as raised:
        client(server).request("POST", "/v1/servicerequests/en-US", body={"Title": ""})
    error = raised.value
    assert (error.status, error.code, error.retryable) == (400, "2000", False)
    assert "Title is required." in str(error)
    method, _path, headers, body = server.requests[0]
    assert (method, json.loads(body)) == ("POST", {"Title": ""})
    assert headers["Content-Type"] == "application/json"
