import hashlib
import itertools
import os

from django.core.cache import caches
from rest_framework.exceptions import Throttled
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

from core.cache import FailOpenRedisCache

# DRF's sliding log (the times of the calls within the period), kept in a Redis sorted set and
# updated by one script: one round trip per call instead of a GET and a SET of a pickled list,
# and two calls at once cannot both take the last place. A refused call is not recorded, as in
# DRF. Replies: {1} when allowed; {0, calls in the window, time of the oldest} when refused.
RECORD_CALL = """
local key, now = KEYS[1], tonumber(ARGV[1])
local period, limit = tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - period)
local calls = redis.call('ZCARD', key)
if calls >= limit then
    return {0, calls, redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2]}
end
redis.call('ZADD', key, now, ARGV[4])
redis.call('EXPIRE', key, period)
return {1}
"""
# Redis names a script by its SHA-1.
RECORD_CALL_SHA = hashlib.sha1(RECORD_CALL.encode(), usedforsecurity=False).hexdigest()
# Redis is down: the throttle fails open (core.cache).
ALLOWED = [1]
# Each call's member in the sorted set must be unique, even for two calls at the same instant.
_call_numbers = itertools.count()


class SlidingLogThrottle:
    """DRF's rates, buckets and ``Retry-After``, in one Redis round trip per call.

    Without Redis (process memory, no ``REDIS_URL``) DRF's own list in the cache serves.
    """

    @property
    def cache(self):
        """The ``throttle`` cache (it fails open, core.cache), looked up when used: this thread's
        connection, and the cache the settings name now, not the one they named at import."""
        return caches["throttle"]

    def allow_request(self, request, view):
        cache = self.cache
        if not isinstance(cache, FailOpenRedisCache):
            allowed = super().allow_request(request, view)
            history = getattr(self, "history", [])
            self.calls, self.oldest = len(history), history[-1] if history else None
            return allowed
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        member = f"{self.now!r}:{os.getpid()}:{next(_call_numbers)}"
        args = (repr(self.now), self.duration, self.num_requests, member)
        reply = cache.run_script(RECORD_CALL, RECORD_CALL_SHA, self.key, args, ALLOWED)
        if reply[0]:
            return True
        self.calls, self.oldest = reply[1], float(reply[2])
        return False

    def wait(self):
        """DRF's estimate (``SimpleRateThrottle.wait``), from the calls in the window."""
        remaining = self.duration - (self.now - self.oldest) if self.calls else self.duration
        available = self.num_requests - self.calls + 1
        return remaining / available if available > 0 else None


class ClientRateThrottle(SlidingLogThrottle, UserRateThrottle):
    """Per caller: each API client (and each signed-in person) has its own bucket.

    An API client with its own ``rate_limit`` is held to that instead of ``API_THROTTLE_RATE``.
    """

    scope = "client"

    def allow_request(self, request, view):
        override = _client_rate(request)
        if override:
            self.rate = override
            self.num_requests, self.duration = self.parse_rate(override)
        return super().allow_request(request, view)


def _client_rate(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.is_api_client:
        return ""
    # Loaded with the user when the token was checked: no extra query.
    client = getattr(user, "api_client", None)
    return client.rate_limit if client is not None else ""


class AnonymousRateThrottle(SlidingLogThrottle, AnonRateThrottle):
    """Per client address for unauthenticated calls (``TRUSTED_PROXY_COUNT`` decides which address)."""

    scope = "anonymous"


class RefusedCallThrottle(AnonymousRateThrottle):
    """The anonymous bucket, for calls about to be refused as unauthenticated.

    Keyed on the address alone: it is consulted while authentication is failing, when asking
    ``request.user`` would start authentication again.
    """

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


def refuse_unauthenticated(request, view=None):
    """Count a call that will be refused as unauthenticated; raise 429 once its address floods.

    DRF checks credentials and permissions before throttles, so without this a flood of
    anonymous calls or made-up tokens would never be limited: each costs a token lookup.
    """
    throttle = RefusedCallThrottle()
    if not throttle.allow_request(request, view):
        raise Throttled(throttle.wait())


class ServiceRequestCreateThrottle(SlidingLogThrottle, UserRateThrottle):
    """Per caller, opening service requests only (``API_SERVICE_REQUEST_CREATE_RATE``).

    Each one is escalated to Microsoft, so a runaway client must not open hundreds a minute even
    within its general rate. A bucket of its own: reads and other writes never count against it.
    """

    scope = "service_request_create"
