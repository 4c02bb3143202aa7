"""S8: URLs the portal would connect to (webhook targets, channel endpoints) that point inside.

Loopback cases are real: a listener on 127.0.0.1 and ::1 must record no connection. Private and
link-local ranges are checked through the address check alone, with a stub resolver: tests never
send traffic anywhere but loopback.
"""

import socket
import threading
import uuid

import pytest
from rest_framework.test import APIClient

from core.outbound import check_outbound_url, http_url_error
from integrations import sending
from integrations.models import WebhookSubscription
from outbound import urlguard
from outbound.urlguard import UnsafeURL
from tests.helpers import stub_resolver
from tests.waiting import wait_until


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "100.64.0.1",  # carrier-grade NAT
        "169.254.169.254",  # link-local: cloud metadata
        "0.0.0.0",  # noqa: S104 - an address to refuse, not one to bind
        "224.0.0.1",  # multicast
        "fe80::1",  # IPv6 link-local
        "fc00::1",  # IPv6 unique local
        "::ffff:10.0.0.1",  # IPv4-mapped private
        "127.0.0.1",
        "::1",
    ],
)
def test_a_name_resolving_inside_is_refused_without_connecting(settings, address):
    settings.OUTBOUND_URL_ALLOWLIST = []
    with pytest.raises(UnsafeURL, match="internal address"):
        check_outbound_url("https://psa.example.com/hook", resolve=stub_resolver(address))


def test_one_internal_address_among_public_ones_is_enough_to_refuse(settings):
    settings.OUTBOUND_URL_ALLOWLIST = []
    resolve = stub_resolver("93.184.216.34", "10.1.2.3")
    with pytest.raises(UnsafeURL):
        check_outbound_url("https://psa.example.com/hook", resolve=resolve)
    public = stub_resolver("93.184.216.34")
    assert check_outbound_url("https://psa.example.com/hook", resolve=public)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://psa.example.com/hook",
        "https://user:pw@psa.example.com/hook",
        "https:///hook",
    ],
)
def test_other_schemes_credentials_and_hostless_urls_are_refused(url):
    with pytest.raises(UnsafeURL):
        check_outbound_url(url, resolve=stub_resolver("93.184.216.34"))


def test_production_refuses_plain_http(settings):
    settings.PRODUCTION = True
    settings.OUTBOUND_URL_ALLOWLIST = []
    with pytest.raises(UnsafeURL, match="https"):
        check_outbound_url("http://psa.example.com/hook", resolve=stub_resolver("93.184.216.34"))


class Listener:
    """Counts connections accepted on 127.0.0.1 and ::1 (one port for both)."""

    def __init__(self):
        self.connections = 0
        self.sockets = []
        self.port = None
        for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, self.port or 0))
            self.port = sock.getsockname()[1]
            sock.listen()
            sock.settimeout(0.2)
            self.sockets.append(sock)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stopped.is_set():
            for sock in self.sockets:
                try:
                    conn, _address = sock.accept()
                except (TimeoutError, OSError):
                    continue
                self.connections += 1
                conn.close()

    def stop(self):
        self.stopped.set()
        self.thread.join()
        for sock in self.sockets:
            sock.close()


@pytest.fixture
def listener():
    listener = Listener()
    yield listener
    listener.stop()


def loopback_urls(port):
    return [
        f"http://127.0.0.1:{port}/hook",
        f"http://[::1]:{port}/hook",
        f"http://2130706433:{port}/hook",  # 127.0.0.1 as one decimal number
        f"http://127.1:{port}/hook",  # 127.0.0.1, shortened
        f"http://localhost:{port}/hook",  # a name resolving to loopback
    ]


@pytest.mark.django_db
def test_webhooks_to_loopback_are_refused_and_never_connect(settings, listener, cast):
    settings.OUTBOUND_URL_ALLOWLIST = []
    admin = APIClient()
    admin.force_authenticate(cast["global_admin"])
    for url in loopback_urls(listener.port):
        # The admin sees a validation error (the decimal form is not even a valid URL)...
        assert http_url_error(url) is not None
        response = admin.post(
            "/api/v1/webhooks/",
            {
                "name": f"x-{uuid.uuid4().hex[:6]}",
                "target_url": url,
                "event_types": ["feed.failing"],
            },
            format="json",
        )
        assert response.status_code == 400, url
        assert response.json()["errors"][0]["attr"] == "target_url"
        # ...and a subscription stored before the rules tightened is refused at send time.
        subscription = WebhookSubscription(name=url, target_url=url, event_types=["feed.failing"])
        subscription.secret = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3"
        with pytest.raises(sending.SendFailed, match="Refused to connect"):
            sending.send(subscription, "msg_test", b"{}")
    assert listener.connections == 0


@pytest.mark.django_db
def test_channels_to_loopback_are_refused_and_never_connect(settings, listener):
    from servicerequests.channels.base import ChannelError, HttpChannel

    settings.OUTBOUND_URL_ALLOWLIST = []
    channel = HttpChannel(channel=None)
    for url in loopback_urls(listener.port):
        with pytest.raises(ChannelError, match="Refused to connect"):
            channel.request("POST", url, json_body={"title": "x"})
    assert listener.connections == 0


def test_the_listener_does_count_connections(listener):
    # Guards the tests above: a listener that never counted would make them pass vacuously.
    with socket.create_connection(("127.0.0.1", listener.port), timeout=2):
        pass
    wait_until(
        lambda: listener.connections, timeout=2, interval=0.01, message="no connection counted"
    )
    assert listener.connections == 1


@pytest.fixture
def rebinding_dns(monkeypatch):
    """A name that resolves to a public address when checked, then to loopback (DNS rebinding).

    A stub: tests cannot run a DNS server the system resolver would ask.
    """
    answers = []

    def resolve(host, port, *args, **kwargs):
        address = "93.184.216.34" if not answers else "127.0.0.1"
        answers.append(address)
        return stub_resolver(address)(host, port)

    monkeypatch.setattr(urlguard, "resolver", resolve)
    return resolve, answers


@pytest.mark.django_db
def test_a_name_rebinding_to_loopback_after_the_check_never_connects(
    settings, listener, rebinding_dns
):
    from servicerequests.channels.base import ChannelError, HttpChannel

    settings.OUTBOUND_URL_ALLOWLIST = []
    _resolve, answers = rebinding_dns
    url = f"http://psa.rebind.example:{listener.port}/hook"
    subscription = WebhookSubscription(name="r", target_url=url, event_types=["feed.failing"])
    subscription.secret = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3"
    for send in (
        lambda: sending.send(subscription, "msg_test", b"{}"),
        lambda: HttpChannel(channel=None).request("POST", url, json_body={"title": "x"}),
    ):
        answers.clear()
        with pytest.raises((sending.SendFailed, ChannelError), match="unreachable"):
            send()
        # The sender's check saw the public address; the connection resolved again and saw
        # loopback, so it never connected.
        assert answers == ["93.184.216.34", "127.0.0.1"]
    assert listener.connections == 0
