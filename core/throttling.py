from django.core.cache import caches
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle


class ClientRateThrottle(UserRateThrottle):
    """Per caller: each API client (and each signed-in person) has its own bucket."""

    scope = "client"
    cache = caches["throttle"]


class AnonymousRateThrottle(AnonRateThrottle):
    """Per client address for unauthenticated calls (``NUM_PROXIES`` decides which address)."""

    scope = "anonymous"
    cache = caches["throttle"]
