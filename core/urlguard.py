"""Checks on URLs the portal connects to: ones admins type and links a remote API returns.

http(s) only, and no private, loopback, link-local or otherwise internal address unless its host
is in OUTBOUND_URL_ALLOWLIST (the bundled simulators in development and tests). The host is
resolved here, so a name that points at an internal address is refused as well.

``guarded_session()`` closes the gap between that check and the connection: its connections
resolve the host once more, check every address, and connect to the checked one. A name whose
DNS answer changes after the check (DNS rebinding) cannot steer a connection inside. Its
connections ignore the proxy environment variables (HTTP_PROXY and the like), which would hand
the connection, and the name to resolve, to a proxy; OUTBOUND_PROXY names a proxy explicitly,
and then that proxy resolves the names (it must refuse internal addresses itself).
"""

import ipaddress
import socket
import threading
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.utils.translation import gettext as _
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError


class UnsafeURL(ValueError):
    pass


class PlaceholderError(UnsafeURL):
    """A token URL holds a placeholder other than ``{tenant_id}``."""


TENANT_PLACEHOLDER = "{tenant_id}"


def fill_tenant_id(url_template, tenant_id):
    """``url_template`` with each ``{tenant_id}`` replaced by ``tenant_id``.

    A literal replacement, never ``str.format``: the template is typed by an admin, and a
    format field reaches the attributes and items of the value it is given
    (``{tenant_id.__class__...}``), as far as the settings and their secrets. Any other brace
    is refused, so no template means anything but that one placeholder.
    """
    rest = url_template.replace(TENANT_PLACEHOLDER, "")
    if "{" in rest or "}" in rest:
        raise PlaceholderError("The only placeholder a token URL may hold is {tenant_id}.")
    return url_template.replace(TENANT_PLACEHOLDER, str(tenant_id))


# Outside 2000::/3 the IPv6 space is reserved or special-purpose: nothing there is globally
# routable except the well-known NAT64 prefix, which carries an IPv4 address (checked below).
_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Not globally routable, though the ipaddress of older Pythons does not know it yet:
# documentation (3fff::/20) and SRv6 segment identifiers (5f00::/16).
_NOT_GLOBAL_V6 = (ipaddress.ip_network("3fff::/20"), ipaddress.ip_network("5f00::/16"))


def _carried_ipv4(ip):
    """The IPv4 addresses an IPv6 address carries and a network may translate it to."""
    if ip.ipv4_mapped:
        return [ip.ipv4_mapped]
    carried = []
    if ip.sixtofour:
        carried.append(ip.sixtofour)
    if ip.teredo:
        carried.extend(ip.teredo)  # the Teredo server and the client
    if ip in _NAT64 or int(ip) >> 32 == 0:  # NAT64, or IPv4-compatible (::a.b.c.d)
        carried.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return carried


def _is_internal(address):
    """True unless ``address``, and any IPv4 address it carries, is globally routable."""
    ip = ipaddress.ip_address(address)
    if ip.version == 4:
        return not ip.is_global or ip.is_multicast
    if ip.ipv4_mapped:
        return _is_internal(str(ip.ipv4_mapped))
    if (
        not ip.is_global
        or ip.is_multicast
        or (ip not in _GLOBAL_UNICAST and ip not in _NAT64)
        or any(ip in network for network in _NOT_GLOBAL_V6)
    ):
        return True
    return any(_is_internal(str(carried)) for carried in _carried_ipv4(ip))


def _literal_address(host):
    """The address a host names without a lookup: an IP literal, or any IPv4 form the system
    resolver also takes (2130706433, 127.1, 0x7f.1); None for a name."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    try:
        return str(ipaddress.IPv4Address(socket.inet_aton(host)))
    except (OSError, ValueError):
        return None


def check_outbound_url(url, resolve=None):
    """Return the URL if the portal may connect to it, else raise UnsafeURL saying why."""
    resolve = resolve or resolver
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UnsafeURL(f"Only http and https URLs are allowed, not {parts.scheme or 'none'}.")
    if not parts.hostname:
        raise UnsafeURL("The URL has no host.")
    if parts.username or parts.password:
        raise UnsafeURL("Credentials in the URL are not allowed.")
    host = parts.hostname.lower()
    if _allowlisted(host):
        return url
    if settings.PRODUCTION and parts.scheme != "https":
        raise UnsafeURL("Only https URLs are allowed in production.")
    literal = _literal_address(host)
    if literal is not None and _is_internal(literal):
        raise UnsafeURL(f"The host {host} points to an internal address.")
    try:
        infos = resolve(host, parts.port or (443 if parts.scheme == "https" else 80))
    except (socket.gaierror, UnicodeError):
        raise UnsafeURL(f"The host {host} cannot be resolved.") from None
    for info in infos:
        if _is_internal(info[4][0]):
            raise UnsafeURL(f"The host {host} points to an internal address.")
    return url


def _allowlisted(host):
    return host.lower().rstrip(".") in {h.lower() for h in settings.OUTBOUND_URL_ALLOWLIST}


# How names are resolved, for the checks and for guarded connections; tests swap in a stub
# (they cannot run a DNS server the system resolver would ask).
resolver = socket.getaddrinfo


class _PinnedAddressMixin:
    """Connect to an address checked at connect time, never to one resolved after the check."""

    def _new_conn(self):
        host = self._dns_host
        if _allowlisted(host):
            return super()._new_conn()
        try:
            infos = resolver(host, self.port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise NewConnectionError(self, f"Failed to resolve {host}: {exc}") from exc
        addresses = [info[4][0] for info in infos]
        if not addresses or any(_is_internal(address) for address in addresses):
            raise NewConnectionError(self, f"Refused: {host} points to an internal address.")
        # TLS still checks the certificate against the name (self.host), not the address.
        self._dns_host = addresses[0]
        try:
            return super()._new_conn()
        finally:
            self._dns_host = host


class _GuardedHTTPConnection(_PinnedAddressMixin, HTTPConnection):
    pass


class _GuardedHTTPSConnection(_PinnedAddressMixin, HTTPSConnection):
    pass


class _GuardedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class _GuardedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _GuardedHTTPConnectionPool,
            "https": _GuardedHTTPSConnectionPool,
        }


def guarded_session():
    """A requests session for URLs from admins and remote APIs (see the module docstring)."""
    session = requests.Session()
    # Proxies only as configured: one taken from the environment would receive every
    # connection, bypassing the pinning above.
    session.trust_env = False
    if settings.OUTBOUND_PROXY:
        session.proxies = {"http": settings.OUTBOUND_PROXY, "https": settings.OUTBOUND_PROXY}
    session.mount("http://", _GuardedAdapter())
    session.mount("https://", _GuardedAdapter())
    return session


_local = threading.local()


def thread_session():
    """One guarded session per thread: repeated requests to a PSA or channel reuse the
    connection (and its TLS handshake) instead of opening a new one each time."""
    if not hasattr(_local, "session"):
        _local.session = guarded_session()
    return _local.session


def same_origin(url, base_url):
    """True if ``url`` has the scheme, host and port of ``base_url``.

    Used for @odata.nextLink, and to tell whether an edited URL still reaches the host a stored
    secret was given for. A port that does not parse is never the same origin.
    """
    try:
        a, b = urlsplit(url), urlsplit(base_url)
        return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)
    except ValueError:
        return False


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
