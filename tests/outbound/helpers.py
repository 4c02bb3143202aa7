"""What the outbound tests share, without Django: a stdlib HTTP server served on a thread."""

import threading
from contextlib import contextmanager


@contextmanager
def serving(server):
    """Serves ``server`` (a ``socketserver`` server) on a thread for the block, then stops it."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
