"""Checks on URLs the portal connects to: ones admins type and links a remote API returns.

http(s) only, and no private, loopback, link-local or otherwise internal address unless its host
is in OUTBOUND_URL_ALLOWLIST (the bundled simulators in development and tests). The host is
resolved here, so a name that points at an internal address is refused as well.
"""

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.utils.translation import gettext as _


class UnsafeURL(ValueError):
    pass


def _is_internal(address):
    ip = ipaddress.ip_address(address)
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def check_outbound_url(url, resolve=socket.getaddrinfo):
    """Return the URL if the portal may connect to it, else raise UnsafeURL saying why."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UnsafeURL(f"Only http and https URLs are allowed, not {parts.scheme or 'none'}.")
    if not parts.hostname:
        raise UnsafeURL("The URL has no host.")
    if parts.username or parts.password:
        raise UnsafeURL("Credentials in the URL are not allowed.")
    host = parts.hostname.lower()
    if host in {h.lower() for h in settings.OUTBOUND_URL_ALLOWLIST}:
        return url
    if settings.PRODUCTION and parts.scheme != "https":
        raise UnsafeURL("Only https URLs are allowed in production.")
    try:
        infos = resolve(host, parts.port or (443 if parts.scheme == "https" else 80))
    except (socket.gaierror, UnicodeError):
        raise UnsafeURL(f"The host {host} cannot be resolved.") from None
    for info in infos:
        if _is_internal(info[4][0]):
            raise UnsafeURL(f"The host {host} points to an internal address.")
    return url


def same_origin(url, base_url):
    """True if ``url`` has the scheme, host and port of ``base_url`` (for @odata.nextLink)."""
    a, b = urlsplit(url), urlsplit(base_url)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)


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
