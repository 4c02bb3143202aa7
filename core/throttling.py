from django.core.cache import caches
from rest_framework.exceptions import Throttled
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle


class ThrottleCache:
    """The ``throttle`` cache (it fails open, core.cache), looked up when used: this thread's
    connection, and the cache the settings name now, not the one they named at import."""

    @property
    def cache(self):
        return caches["throttle"]


class ClientRateThrottle(ThrottleCache, UserRateThrottle):
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


class AnonymousRateThrottle(ThrottleCache, AnonRateThrottle):
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


class ServiceRequestCreateThrottle(ThrottleCache, UserRateThrottle):
    """Per caller, opening service requests only (``API_SERVICE_REQUEST_CREATE_RATE``).

    Each one is escalated to Microsoft, so a runaway client must not open hundreds a minute even
    within its general rate. A bucket of its own: reads and other writes never count against it.
    """

    scope = "service_request_create"
