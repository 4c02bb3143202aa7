"""Checks on URLs the portal connects to: ones admins type and links a remote API returns.

http(s) only, and no private, loopback, link-local or otherwise internal address unless its host
is one the ``UrlGuard`` allows (the bundled simulators in development and tests). The host is
resolved here, so a name that points at an internal address is refused as well.

``UrlGuard.session()`` closes the gap between that check and the connection: its connections
resolve the host once more, check every address, and connect to the checked one. A name whose
DNS answer changes after the check (DNS rebinding) cannot steer a connection inside. Its
connections ignore the proxy environment variables (HTTP_PROXY and the like), which would hand
the connection, and the name to resolve, to a proxy; ``UrlGuard.proxy`` names a proxy
explicitly, and then that proxy resolves the names (it must refuse internal addresses itself).
"""

import functools
import ipaddress
import socket
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError


class UnsafeURL(ValueError):
    pass


class UnresolvableHost(UnsafeURL):
    """The host's name did not resolve: perhaps for a moment, so worth trying again later."""


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


# How names are resolved, for the checks and for guarded connections; tests swap in a stub
# (they cannot run a DNS server the system resolver would ask).
resolver = socket.getaddrinfo


def _normalised_host(host):
    return host.lower().rstrip(".")


@dataclass(frozen=True)
class UrlGuard:
    """Where the portal may connect. ``allowed_hosts`` may be internal (the simulators);
    ``https_only`` refuses plain http to every other host; ``proxy`` (a URL, or empty) is the
    only proxy connections go through."""

    allowed_hosts: frozenset = frozenset()
    https_only: bool = False
    proxy: str = field(default="", repr=False)  # it may carry the proxy's credentials

    def __post_init__(self):
        hosts = frozenset(_normalised_host(host) for host in self.allowed_hosts)
        object.__setattr__(self, "allowed_hosts", hosts)

    def allows_internal(self, host):
        return _normalised_host(host) in self.allowed_hosts

    def check(self, url, resolve=None):
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
        if self.allows_internal(host):
            return url
        if self.https_only and parts.scheme != "https":
            raise UnsafeURL("Only https URLs are allowed in production.")
        literal = _literal_address(host)
        if literal is not None and _is_internal(literal):
            raise UnsafeURL(f"The host {host} points to an internal address.")
        try:
            infos = resolve(host, parts.port or (443 if parts.scheme == "https" else 80))
        except (socket.gaierror, UnicodeError):
            raise UnresolvableHost(f"The host {host} cannot be resolved.") from None
        for info in infos:
            if _is_internal(info[4][0]):
                raise UnsafeURL(f"The host {host} points to an internal address.")
        return url

    def session(self):
        """A requests session for URLs from admins and remote APIs (see the module docstring)."""
        session = requests.Session()
        # Proxies only as configured: one taken from the environment would receive every
        # connection, bypassing the pinning below.
        session.trust_env = False
        if self.proxy:
            session.proxies = {"http": self.proxy, "https": self.proxy}
        session.mount("http://", _GuardedAdapter(self))
        session.mount("https://", _GuardedAdapter(self))
        return session


class _PinnedAddressMixin:
    """Connect to an address checked at connect time, never to one resolved after the check."""

    def __init__(self, *args, guard, **kwargs):
        super().__init__(*args, **kwargs)
        self.guard = guard

    def _new_conn(self):
        host = self._dns_host
        if self.guard.allows_internal(host):
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
    def __init__(self, guard):
        self.guard = guard  # before the base class builds the pool manager with it
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        # A pool passes its extra keywords on to each connection it opens: here, the guard.
        self.poolmanager.pool_classes_by_scheme = {
            "http": functools.partial(_GuardedHTTPConnectionPool, guard=self.guard),
            "https": functools.partial(_GuardedHTTPSConnectionPool, guard=self.guard),
        }


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
