"""A tiny threaded WSGI server for the simulators (stdlib only), on loopback.

A simulator that stands in for a service keeping its connections alive (an app with
``keep_alive = True``: Microsoft Graph does) is served over HTTP/1.1, many requests per
connection; the others answer HTTP/1.0 and close each connection, as wsgiref does."""

import contextlib
import io
import socket
import threading
from http.server import BaseHTTPRequestHandler
from socketserver import ThreadingMixIn
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer, make_server

# A kept-alive connection idle this long is closed (seconds), as servers do.
IDLE_SECONDS = 60


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog is 5: a burst of concurrent deliveries overflowed it and
    # the kernel answered the extra connections with a reset (seen in CI with 20 at once).
    request_queue_size = 128

    def server_activate(self):
        super().server_activate()
        self.connections_lock = threading.Lock()
        self.open_connections = set()
        self.connections_accepted = 0

    def process_request(self, request, client_address):
        with self.connections_lock:
            self.open_connections.add(request)
            self.connections_accepted += 1
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self.connections_lock:
            self.open_connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self):
        """End the connections still open: a stopped simulator answers nothing more, even on
        a connection kept alive."""
        with self.connections_lock:
            open_connections = list(self.open_connections)
        for request in open_connections:
            with contextlib.suppress(OSError):  # already closed by the other side
                request.shutdown(socket.SHUT_RDWR)


class _Quiet:
    def log_message(self, format, *args):
        pass


class _ServerHandler11(ServerHandler):
    http_version = "1.1"
    length_known = False

    def cleanup_headers(self):
        super().cleanup_headers()
        self.length_known = "Content-Length" in self.headers
        if not self.length_known:
            self.headers["Connection"] = "close"


class _KeepAliveHandler(WSGIRequestHandler):
    """HTTP/1.1: requests are answered one after another on a connection until the client
    closes it, asks to (``Connection: close``), or leaves it idle ``IDLE_SECONDS``. An answer
    without a Content-Length ends the connection, so the client can tell where it stops."""

    protocol_version = "HTTP/1.1"
    timeout = IDLE_SECONDS
    # An answer leaves in one write when it fits (wsgiref writes its status line, each header
    # and the body separately), and without waiting for the last one's acknowledgement: on a
    # connection kept open, Nagle's algorithm would hold a small answer back ~40 ms.
    wbufsize = 64 * 1024

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    # BaseHTTPRequestHandler's loop over handle_one_request (wsgiref's handles one request).
    handle = BaseHTTPRequestHandler.handle

    def handle_one_request(self):
        try:
            self.raw_requestline = self.rfile.readline(65537)
        except OSError:  # idle too long, or the client went away
            self.close_connection = True
            return
        if not self.raw_requestline or len(self.raw_requestline) > 65536:
            self.close_connection = True
            return
        if not self.parse_request():  # an error was answered, and the connection is closing
            return
        if "Transfer-Encoding" in self.headers:
            # A chunked body is not read here: where it ends is not known, so close after.
            self.close_connection = True
            body = self.rfile
        else:
            # The whole body, read before the app runs: one that reads less leaves no bytes
            # behind to be taken for the next request.
            body = io.BytesIO(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        handler = _ServerHandler11(
            body, self.wfile, self.get_stderr(), self.get_environ(), multithread=True
        )
        handler.request_handler = self  # wsgiref's back-pointer, for its request log
        handler.run(self.server.get_app())
        if not handler.length_known:
            self.close_connection = True
        self.wfile.flush()


# By (keep alive, quiet).
_HANDLERS = {
    (False, False): WSGIRequestHandler,
    (False, True): type("_QuietHandler", (_Quiet, WSGIRequestHandler), {}),
    (True, False): _KeepAliveHandler,
    (True, True): type("_QuietKeepAliveHandler", (_Quiet, _KeepAliveHandler), {}),
}


class SimulatorServer:
    """Serve a WSGI app on ``host:port`` (port 0: any free one) in a background thread.

    A simulator (an app with a ``base_url``) is told where it is served, for the absolute links
    it writes; one that holds answers back (an app with ``release``) lets them go before the
    server stops; one with ``keep_alive`` set keeps connections alive (see the module).
    ``connections_accepted`` counts the connections made to it."""

    def __init__(self, app, host="127.0.0.1", port=0, quiet=True):
        handler = _HANDLERS[bool(getattr(app, "keep_alive", False)), bool(quiet)]
        self.app = app
        self.httpd = make_server(
            host, port, app, server_class=_ThreadingWSGIServer, handler_class=handler
        )
        self.host, self.port = self.httpd.server_address[:2]
        if hasattr(app, "base_url"):
            app.base_url = self.url
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self):
        return f"http://{self.host}:{self.port}"

    @property
    def connections_accepted(self):
        return self.httpd.connections_accepted

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        if hasattr(self.app, "release"):
            self.app.release()
        self.httpd.shutdown()
        self.httpd.close_connections()
        self.httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
