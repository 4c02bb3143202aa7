"""The one HTTP transport against a real HTTP server on 127.0.0.1: what each answer means, the
failures that never reach an answer, kept-alive connections, the URL guard, and its log lines.

No Django here: the transport is built from a ``UrlGuard`` directly, as ``core.outbound`` does.
"""

import email.utils
import logging
import socket
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from outbound.transport import Transport, TransportError, parse_retry_after, read_at_most
from outbound.urlguard import UrlGuard
from tests.helpers import serving

SECRET = "s3cr3t-bearer-token-value"
LOOPBACK = UrlGuard(allowed_hosts={"127.0.0.1"})


class Server(ThreadingHTTPServer):
    """Answers ``/status/<code>`` with that status; ``?retry_after=`` sets the header,
    ``?cookie=`` a Set-Cookie header and ``?size=`` the body's length. ``/slow`` answers once
    ``release`` is set. Counts connections (one handler per connection) and records each request
    line and the Cookie header it came with."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.connections = 0
        self.requests = []
        self.cookies = []
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.url = f"http://127.0.0.1:{self.server_port}"

    def handle_error(self, request, client_address):
        pass  # a client that stops reading (an excerpt's cap, a timeout) breaks the pipe


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive

    def setup(self):
        super().setup()
        with self.server.lock:
            self.server.connections += 1

    def log_message(self, *args):
        pass

    def do_GET(self):
        parts = urlsplit(self.path)
        query = {key: values[0] for key, values in parse_qs(parts.query).items()}
        with self.server.lock:
            self.server.requests.append((self.command, parts.path))
            self.server.cookies.append(self.headers.get("Cookie"))
        if parts.path == "/slow":
            self.server.release.wait(10)
            self._answer(200, b"late")
            return
        status = int(parts.path.rsplit("/", 1)[-1])
        headers = {}
        if "retry_after" in query:
            headers["Retry-After"] = query["retry_after"]
        if "cookie" in query:
            headers["Set-Cookie"] = query["cookie"]
        if 300 <= status < 400:
            headers["Location"] = "/status/200"
        body = b"x" * int(query.get("size", 0)) or f'{{"status": {status}}}'.encode()
        self._answer(status, body, headers)

    do_POST = do_GET

    def _answer(self, status, body, headers=None):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server():
    with serving(Server()) as running:
        yield running
        running.release.set()  # a request still waiting on /slow ends before the server stops


def failure(transport, url, **kwargs):
    with pytest.raises(TransportError) as caught:
        transport.request("GET", url, **kwargs)
    return caught.value


def test_a_2xx_answer_is_returned_with_its_body_unread(server):
    response = Transport(LOOPBACK).request("GET", f"{server.url}/status/200")
    assert response.status_code == 200
    assert response.json() == {"status": 200}


@pytest.mark.parametrize("status", [400, 404, 410])
def test_a_4xx_answer_is_permanent(server, status):
    error = failure(Transport(LOOPBACK), f"{server.url}/status/{status}")
    assert (error.status_code, error.retryable) == (status, False)
    assert error.excerpt == f'{{"status": {status}}}'
    assert error.describe("The receiver") == f"The receiver refused the request ({status})."


@pytest.mark.parametrize("status", [408, 500, 503])
def test_408_and_5xx_answers_are_retryable(server, status):
    error = failure(Transport(LOOPBACK), f"{server.url}/status/{status}")
    assert (error.status_code, error.retryable, error.retry_after) == (status, True, None)
    assert (
        error.describe("The channel", excerpt_chars=5) == f'The channel answered {status}: {{"sta'
    )


def test_429_carries_retry_after_in_seconds(server):
    error = failure(Transport(LOOPBACK), f"{server.url}/status/429?retry_after=7.5")
    assert (error.status_code, error.retryable, error.retry_after) == (429, True, 7.5)


def test_429_carries_retry_after_as_an_http_date(server):
    in_an_hour = email.utils.format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)
    error = failure(Transport(LOOPBACK), f"{server.url}/status/429?retry_after={in_an_hour}")
    assert error.retryable is True
    assert 3000 < error.retry_after <= 3600


def test_a_redirect_is_permanent_and_not_followed(server):
    error = failure(Transport(LOOPBACK), f"{server.url}/status/301")
    assert (error.status_code, error.retryable) == (301, False)
    assert "redirects are not followed" in error.describe("Graph")
    assert server.requests == [("GET", "/status/301")]


def test_an_error_body_is_read_only_up_to_the_excerpt(server):
    error = failure(Transport(LOOPBACK), f"{server.url}/status/500?size=100000", excerpt_bytes=50)
    assert error.excerpt == "x" * 50


def test_a_2xx_body_is_read_up_to_a_cap(server):
    response = Transport(LOOPBACK).request("GET", f"{server.url}/status/200?size=5000")
    assert read_at_most(response, 1000) == (b"x" * 1000, True)
    response = Transport(LOOPBACK).request("GET", f"{server.url}/status/200?size=5000")
    assert read_at_most(response, 5000) == (b"x" * 5000, False)


def test_a_refused_connection_is_retryable():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on the port now.
    error = failure(Transport(LOOPBACK), f"http://127.0.0.1:{port}/status/200")
    assert (error.reason, error.retryable, error.status_code) == ("unreachable", True, None)
    assert error.describe("The channel") == "The channel is unreachable (ConnectionError)."


def test_a_read_timeout_is_retryable(server):
    error = failure(Transport(LOOPBACK, timeout=(5, 0.2)), f"{server.url}/slow")
    assert (error.reason, error.retryable) == ("timeout", True)
    assert error.describe("Graph") == "Graph did not answer in time."


def test_two_requests_reuse_one_kept_alive_connection(server):
    transport = Transport(LOOPBACK)
    for _ in range(2):
        assert transport.request("GET", f"{server.url}/status/200").json() == {"status": 200}
    failure(transport, f"{server.url}/status/404")  # a short error body read whole: still kept
    transport.request("POST", f"{server.url}/status/201", body=b"{}").close()
    assert len(server.requests) == 4
    assert server.connections == 1


def test_a_cookie_a_host_sets_is_sent_back_to_it_by_the_same_session(server):
    transport = Transport(LOOPBACK)
    transport.request("GET", f"{server.url}/status/200?cookie=affinity%3Dnode-2").close()
    transport.request("GET", f"{server.url}/status/200").close()
    assert server.cookies == [None, "affinity=node-2"]


def test_each_thread_has_its_own_session(server):
    transport = Transport(LOOPBACK)
    sessions = [transport.session()]
    worker = threading.Thread(target=lambda: sessions.append(transport.session()))
    worker.start()
    worker.join()
    assert sessions[0] is transport.session()
    assert sessions[1] is not sessions[0]


def test_the_url_guard_refuses_loopback_unless_it_is_allowed(server):
    error = failure(Transport(UrlGuard()), f"{server.url}/status/200")
    assert (error.reason, error.retryable) == ("refused", False)
    assert error.describe("The channel") == (
        "Refused to connect: The host 127.0.0.1 points to an internal address."
    )
    assert server.connections == 0
    assert Transport(LOOPBACK).request("GET", f"{server.url}/status/200").status_code == 200
    assert server.connections == 1


def test_the_log_line_has_no_query_string_or_header(server, caplog):
    caplog.set_level(logging.INFO, logger="outbound.transport")
    transport = Transport(LOOPBACK)
    headers = {"Authorization": f"Bearer {SECRET}"}
    transport.request("GET", f"{server.url}/status/200?token={SECRET}", headers=headers)
    failure(transport, f"{server.url}/status/503?token={SECRET}", headers=headers)
    lines = [record.getMessage() for record in caplog.records]
    assert lines[0].startswith(f"outbound GET {server.url}/status/200 status=200 duration_ms=")
    assert lines[0].endswith(" outcome=ok")
    assert lines[1].startswith(f"outbound GET {server.url}/status/503 status=503 duration_ms=")
    assert lines[1].endswith(" outcome=retry")
    assert caplog.records[1].outbound["url"] == f"{server.url}/status/503"
    assert SECRET not in caplog.text
    assert all(SECRET not in repr(record.__dict__) for record in caplog.records)


def test_retry_after_parsing():
    now = datetime(2026, 11, 27, 8, 0, 0, tzinfo=UTC)
    assert parse_retry_after("0.25") == 0.25
    assert parse_retry_after("Fri, 27 Nov 2026 08:00:30 GMT", now=now) == 30
    assert parse_retry_after("Fri, 27 Nov 2026 07:59:00 GMT", now=now) == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("") is None
