"""Outbound connections ignore HTTP_PROXY, HTTPS_PROXY and ALL_PROXY: a proxy taken from the
environment would receive every connection and resolve the name itself, bypassing the address
pinning. Only OUTBOUND_PROXY, set explicitly, sends them through a proxy.

Both ends are listeners on 127.0.0.1 that answer every request with 200 and record it.
"""

import contextlib
import socket
import threading

import pytest

from core.outbound import transport, url_guard

PROXY_VARIABLES = [
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
]


class RecordingListener:
    """Accepts connections on 127.0.0.1, records each one's request line, answers 200."""

    def __init__(self):
        self.request_lines = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def connections(self):
        return len(self.request_lines)

    def _serve(self):
        while not self.stopped.is_set():
            try:
                conn, _address = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            with conn:
                conn.settimeout(5)
                data = b""
                with contextlib.suppress(OSError):
                    while b"\r\n\r\n" not in data:
                        chunk = conn.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                # Recorded before answering: once the client has its answer, the count is final.
                self.request_lines.append(data.split(b"\r\n", 1)[0].decode("latin-1"))
                with contextlib.suppress(OSError):
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                    )

    def stop(self):
        self.stopped.set()
        self.thread.join()
        self.sock.close()


@pytest.fixture
def listeners():
    started = []

    def start():
        listener = RecordingListener()
        started.append(listener)
        return listener

    yield start
    for listener in started:
        listener.stop()


@pytest.fixture
def proxy_environment(monkeypatch, listeners):
    """Every proxy variable pointing at a recording listener; nothing exempt from it."""
    proxy = listeners()
    for name in PROXY_VARIABLES:
        monkeypatch.setenv(name, proxy.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    return proxy


def test_proxy_variables_in_the_environment_are_ignored(settings, proxy_environment, listeners):
    settings.OUTBOUND_PROXY = ""
    target = listeners()
    with url_guard().session() as session:
        response = session.get(f"{target.url}/hook", timeout=5)
    assert response.status_code == 200
    assert proxy_environment.connections == 0
    assert target.request_lines == ["GET /hook HTTP/1.1"]


def test_the_per_thread_session_ignores_them_too(settings, proxy_environment, listeners):
    settings.OUTBOUND_PROXY = ""
    target = listeners()

    def send():
        # A thread of its own: a fresh session, as a worker thread gets.
        results.append(transport().session().get(f"{target.url}/hook", timeout=5).status_code)

    results = []
    worker = threading.Thread(target=send)
    worker.start()
    worker.join()
    assert results == [200]
    assert proxy_environment.connections == 0
    assert target.connections == 1


def test_outbound_proxy_sends_connections_through_the_proxy(settings, monkeypatch, listeners):
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    proxy, target = listeners(), listeners()
    settings.OUTBOUND_PROXY = proxy.url
    with url_guard().session() as session:
        response = session.get(f"{target.url}/hook", timeout=5)
    assert response.status_code == 200
    assert target.connections == 0
    # A proxy gets the whole URL in the request line.
    assert proxy.request_lines == [f"GET {target.url}/hook HTTP/1.1"]
