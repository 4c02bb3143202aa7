"""The outbound URL guard refuses every address that is not globally routable, in every form:
IPv4-compatible, IPv4-mapped, NAT64, 6to4 and Teredo addresses carrying an internal IPv4
address, and the special-purpose IPv4 ranges.

Through the address check alone, with a stub resolver: nothing here connects anywhere.
"""

import pytest

from core.outbound import check_outbound_url
from outbound.urlguard import UnsafeURL
from tests.helpers import stub_resolver

PUBLIC = "93.184.216.34"

# (how the host is written in a URL, the address the system resolver answers for it)
INTERNAL = [
    ("[::127.0.0.1]", "::127.0.0.1"),  # IPv4-compatible loopback
    ("[::a00:1]", "::a00:1"),  # IPv4-compatible 10.0.0.1
    ("[::ffff:127.0.0.1]", "::ffff:127.0.0.1"),  # IPv4-mapped loopback
    ("[::ffff:10.0.0.1]", "::ffff:10.0.0.1"),  # IPv4-mapped private
    ("[64:ff9b::a00:1]", "64:ff9b::a00:1"),  # NAT64 of 10.0.0.1
    ("[64:ff9b::7f00:1]", "64:ff9b::7f00:1"),  # NAT64 of 127.0.0.1
    ("[64:ff9b:1::808:808]", "64:ff9b:1::808:808"),  # local-use NAT64 prefix
    ("[2002:a00:1::]", "2002:a00:1::"),  # 6to4 of 10.0.0.1
    ("[2002:7f00:1::1]", "2002:7f00:1::1"),  # 6to4 of 127.0.0.1
    # Teredo, server 65.54.227.120, client 10.0.0.1 (stored inverted: f5ff:fffe)
    ("[2001:0:4136:e378:8000:63bf:f5ff:fffe]", "2001:0:4136:e378:8000:63bf:f5ff:fffe"),
    ("[fc00::1]", "fc00::1"),  # unique local
    ("[fe80::1]", "fe80::1"),  # link-local
    ("[ff02::1]", "ff02::1"),  # multicast
    ("[3fff::1]", "3fff::1"),  # documentation
    ("[::1]", "::1"),
    ("[::]", "::"),
    ("100.64.0.1", "100.64.0.1"),  # carrier-grade NAT
    ("192.0.0.1", "192.0.0.1"),  # IETF protocol assignments
    ("198.18.0.1", "198.18.0.1"),  # benchmarking
    ("0.0.0.0", "0.0.0.0"),  # noqa: S104 - an address to refuse, not one to bind
    ("240.0.0.1", "240.0.0.1"),  # reserved
    ("255.255.255.255", "255.255.255.255"),  # broadcast
    ("169.254.169.254", "169.254.169.254"),  # cloud metadata
    ("2130706433", "127.0.0.1"),  # 127.0.0.1 as one decimal number
    ("127.1", "127.0.0.1"),
    ("0x7f.1", "127.0.0.1"),
    ("167772161", "10.0.0.1"),
]
# Reachable on the internet, some carrying a public IPv4 address: still allowed.
GLOBAL = [
    PUBLIC,
    "2606:2800:220:1:248:1893:25c8:1946",
    "::ffff:93.184.216.34",
    "64:ff9b::5db8:d822",  # NAT64 of 93.184.216.34
    "2002:5db8:d822::1",  # 6to4 of 93.184.216.34
]


@pytest.fixture(autouse=True)
def no_allowlist(settings):
    settings.OUTBOUND_URL_ALLOWLIST = []


@pytest.mark.parametrize("host, address", INTERNAL)
def test_an_internal_address_written_in_the_url_is_refused(host, address):
    # The resolver answers as the system's does for an address: with that address.
    with pytest.raises(UnsafeURL, match="internal address"):
        check_outbound_url(f"http://{host}/token", resolve=stub_resolver(address))


@pytest.mark.parametrize("host, address", INTERNAL)
def test_an_internal_address_in_the_url_is_refused_whatever_the_resolver_says(host, address):
    # An address is not a name: what a resolver answers for it cannot make it public.
    with pytest.raises(UnsafeURL, match="internal address"):
        check_outbound_url(f"http://{host}/token", resolve=stub_resolver(PUBLIC))


@pytest.mark.parametrize("address", sorted({address for _host, address in INTERNAL}))
def test_a_name_resolving_to_an_internal_address_is_refused(address):
    with pytest.raises(UnsafeURL, match="internal address"):
        check_outbound_url("https://login.example.com/token", resolve=stub_resolver(address))


@pytest.mark.parametrize("address", GLOBAL)
def test_a_name_resolving_to_a_global_address_is_allowed(address):
    url = "https://login.example.com/token"
    assert check_outbound_url(url, resolve=stub_resolver(address)) == url


@pytest.mark.parametrize("address", GLOBAL)
def test_a_global_address_in_the_url_is_allowed(address):
    host = f"[{address}]" if ":" in address else address
    url = f"https://{host}/token"
    assert check_outbound_url(url, resolve=stub_resolver(address)) == url


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/token", "http://[::1]:9/token", "http://localhost:9/token"]
)
def test_the_allowlist_still_admits_the_simulators(settings, url):
    settings.OUTBOUND_URL_ALLOWLIST = ["127.0.0.1", "localhost", "::1"]
    assert check_outbound_url(url, resolve=stub_resolver("127.0.0.1")) == url
