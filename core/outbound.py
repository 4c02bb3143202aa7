"""The portal's settings applied to the Django-free ``outbound`` package: the one place that
reads them to build the URL guard, the transport and Graph clients, and the form check for URLs
admins type.

Settings are read on every call (tests and a reloaded configuration change them); a transport is
kept per guard, so its kept-alive connections survive from one call to the next.
"""

import functools

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.utils.translation import gettext as _

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


def graph_client(connection, *, client_class=GraphClient, **kwargs):
    """A Graph client (``client_class``: GraphClient or a subclass with its own tokens) on the
    transport, counting the tenant's request budgets (GRAPH_REQUESTS_PER_MINUTE and _PER_HOUR)
    in the cache shared by every worker."""
    return client_class(
        connection,
        transport=transport(),
        request_counter=cache,
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
