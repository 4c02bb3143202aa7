"""The portal's settings applied to the Django-free ``outbound`` package: the one place that
reads them to build the URL guard, the transport and Graph clients, and the form check for URLs
admins type.

Settings are read on every call (tests and a reloaded configuration change them); a transport is
kept per guard, so its kept-alive connections survive from one call to the next.
"""

import functools
import hashlib

from django.conf import settings
from django.core.cache import caches
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.utils.translation import gettext as _

from core.cache import FailOpenRedisCache
from outbound.graph import GraphClient
from outbound.transport import Transport
from outbound.urlguard import UnsafeURL, UrlGuard


def url_guard():
    """The guard as configured: OUTBOUND_URL_ALLOWLIST may be internal (the simulators),
    production allows https only, and OUTBOUND_PROXY is the only proxy."""
    return UrlGuard(
        allowed_hosts=frozenset(settings.OUTBOUND_URL_ALLOWLIST),
        https_only=settings.PRODUCTION,
        proxy=settings.OUTBOUND_PROXY or "",
    )


def check_outbound_url(url, resolve=None):
    """Return the URL if the portal may connect to it, else raise UnsafeURL saying why."""
    return url_guard().check(url, resolve=resolve)


@functools.cache
def _transport_for(guard):
    return Transport(guard)


def transport():
    """The transport every outbound call goes through."""
    return _transport_for(url_guard())


# The tenants' Graph request counts (outbound.graph.GraphClient's ``request_counter``): one
# round trip for every window, for one request or a reservation of ARGV[1]. The first key is
# incremented by ARGV[1], each next one by as many as the one before took within its budget
# ARGV[2i+1] (a request refused by the minute is not counted in the hour), stopping at one that
# took none; a key expires ARGV[2i] seconds after the window's first request. Replies: the counts.
COUNT_REQUEST = """
local requests = tonumber(ARGV[1])
local counts = {}
for i, key in ipairs(KEYS) do
    local spent = redis.call('INCRBY', key, requests)
    if spent == requests then
        redis.call('EXPIRE', key, ARGV[2 * i])
    end
    counts[i] = spent
    requests = math.min(requests, math.max(0, tonumber(ARGV[2 * i + 1]) - (spent - requests)))
    if requests == 0 then
        break
    end
end
return counts
"""
# Redis names a script by its SHA-1.
COUNT_REQUEST_SHA = hashlib.sha1(COUNT_REQUEST.encode(), usedforsecurity=False).hexdigest()


class GraphRequestCounter:
    """Graph requests per tenant and window, in the ``throttle`` cache shared by every worker
    (looked up when used: this thread's connection, and the cache the settings name now).

    In Redis, one script per request (or reservation); while Redis is down the cache fails open
    (core.cache) and requests go uncounted, Graph's own throttling still applying. In process
    memory (no ``REDIS_URL``), the cache's ``incr`` and ``add``.
    """

    def count(self, windows, requests=1):
        """``windows``: ``(key, keep_seconds, budget)`` each, ``requests``: how many to add;
        see outbound.graph.GraphClient."""
        cache = caches["throttle"]
        if isinstance(cache, FailOpenRedisCache):
            keys = [key for key, _keep, _budget in windows]
            args = [requests]
            args += [value for _key, keep, budget in windows for value in (keep, budget)]
            return cache.run_script(COUNT_REQUEST, COUNT_REQUEST_SHA, keys, args, None)
        counts = []
        for key, keep, budget in windows:
            counts.append(_incr_or_add(cache, key, keep, requests))
            requests = min(requests, max(0, budget - (counts[-1] - requests)))
            if requests == 0:
                break
        return counts


def _incr_or_add(cache, key, keep, requests):
    """Add ``requests`` to the count ``key`` and return it. The key exists but for the window's
    first request, so try the increment first."""
    try:
        return cache.incr(key, requests)
    except ValueError:  # the window's first request
        if cache.add(key, requests, timeout=keep):
            return requests
        return cache.incr(key, requests)  # another worker's first request came first


def graph_client(connection, *, client_class=GraphClient, **kwargs):
    """A Graph client (``client_class``: GraphClient or a subclass with its own tokens) on the
    transport, counting the tenant's request budgets (GRAPH_REQUESTS_PER_MINUTE and _PER_HOUR)
    in counts shared by every worker."""
    return client_class(
        connection,
        transport=transport(),
        request_counter=GraphRequestCounter(),
        requests_per_minute=settings.GRAPH_REQUESTS_PER_MINUTE,
        requests_per_hour=settings.GRAPH_REQUESTS_PER_HOUR,
        **kwargs,
    )


def http_url_error(url):
    """Why the portal may not post to ``url``, as a message for a form field; None if it may."""
    try:
        URLValidator(schemes=["http", "https"])(url)
        check_outbound_url(url)
    except ValidationError:
        return _("Enter an http or https URL.")
    except UnsafeURL as exc:
        return str(exc)
    return None
