"""A tiny threaded WSGI server for the simulators (stdlib only), on loopback."""

import threading
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog is 5: a burst of concurrent deliveries overflowed it and
    # the kernel answered the extra connections with a reset (seen in CI with 20 at once).
    request_queue_size = 128


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):
        pass


class SimulatorServer:
    """Serve a WSGI app on ``host:port`` (port 0: any free one) in a background thread.

    A simulator (an app with a ``base_url``) is told where it is served, for the absolute links
    it writes; one that holds answers back (an app with ``release``) lets them go before the
    server stops."""

    def __init__(self, app, host="127.0.0.1", port=0, quiet=True):
        handler = _QuietHandler if quiet else WSGIRequestHandler
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

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        if hasattr(self.app, "release"):
            self.app.release()
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
