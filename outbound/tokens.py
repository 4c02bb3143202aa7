"""Access tokens held in this process until shortly before they expire.

Never in a shared cache: that would keep live bearer tokens at rest in Redis. Each worker fetches
its own, which costs one token request per process and hour.
"""

import threading
import time

# Use a token no later than this long before its issuer says it expires.
SAFETY_MARGIN = 120


class AccessTokens:
    """Tokens by key (whose token it is: the key must change when the credential does)."""

    def __init__(self, clock=time.monotonic):
        self._tokens = {}
        self._lock = threading.Lock()
        self._clock = clock

    def get(self, key):
        """The token held for ``key`` if it is still good, else None."""
        with self._lock:
            held = self._tokens.get(key)
        if held and held[1] > self._clock():
            return held[0]
        return None

    def put(self, key, token, lifetime):
        """Hold ``token`` for ``lifetime`` seconds (the issuer's ``expires_in``) less the margin."""
        expires = self._clock() + max(0.0, float(lifetime) - SAFETY_MARGIN)
        with self._lock:
            self._tokens[key] = (token, expires)

    def forget(self, key):
        with self._lock:
            self._tokens.pop(key, None)

    def clear(self):
        with self._lock:
            self._tokens.clear()

    def __len__(self):
        return len(self._tokens)

    def __iter__(self):
        """The keys held, never the tokens."""
        with self._lock:
            return iter(list(self._tokens))
