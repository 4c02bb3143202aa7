"""The cast every test draws on: one user per role, a user with no role, an inactive user.

In `make test` (PORTAL_TEST_REQUIRE_SERVICES=1) the suite refuses to run without PostgreSQL and
Redis: a test that needs a service fails, it never skips.
"""

import logging
import os

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts import services
from accounts.roles import Role
from servicehealth import pool
from tests.customers.factories import CustomerFactory
from tests.factories import PASSWORD, UserFactory
from tests.helpers import authenticated_api

# Playwright's sync API runs an event loop in the test thread; Django must allow ORM calls there.
# Test environment only, never in settings.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM_PATH = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]

ROLE_PRINCIPALS = {
    "global_admin": Role.GLOBAL_ADMIN,
    "user_management_admin": Role.USER_MANAGEMENT_ADMIN,
    "admin_agent": Role.ADMIN_AGENT,
    "helpdesk_agent": Role.HELPDESK_AGENT,
}


def pytest_addoption(parser):
    parser.addoption(
        "--fault-scale",
        type=float,
        default=1.0,
        help="Multiply the fault tests' sizes (docs/reliability.md): 1 fits a 2-core CI run, "
        "5 is R1's full size.",
    )


def pytest_configure(config):
    if os.environ.get("PORTAL_TEST_REQUIRE_SERVICES") == "1":
        engine = settings.DATABASES["default"]["ENGINE"]
        problems = []
        if "postgresql" not in engine:
            problems.append(f"DATABASE_URL must point at PostgreSQL (engine is {engine})")
        if not settings.REDIS_URL:
            problems.append("REDIS_URL must be set")
        if problems:
            pytest.exit("make test needs its services: " + "; ".join(problems), returncode=3)


# Tests put secrets containing this word in every secret field (S7). No log line of any test may
# carry one: a hit fails the test at teardown, naming the line.
SECRET_CANARY = "canary"


class _CanaryLogHandler(logging.Handler):
    def __init__(self):
        super().__init__()
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.hits = []

    def emit(self, record):
        try:
            text = self.format(record)  # the message with its arguments and any traceback
        except Exception:
            text = f"{record.msg!r} {record.args!r}"
        if SECRET_CANARY in text.lower():
            self.hits.append(text[:500])


@pytest.fixture(autouse=True)
def no_secret_in_logs():
    """Everything logged at the configured levels, from any thread (live servers included)."""
    handler = _CanaryLogHandler()
    root = logging.getLogger()
    root.addHandler(handler)
    yield
    root.removeHandler(handler)
    assert not handler.hits, f"a secret canary reached the logs: {handler.hits}"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # The real hasher is deliberately slow; the suite creates hundreds of users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def empty_caches():
    # Rate-limit counters live in the cache; one test's failed sign-ins must not lock the next.
    from django.core.cache import caches

    for alias in settings.CACHES:
        caches[alias].clear()


@pytest.fixture(autouse=True)
def close_poll_pool():
    """A test that polled a batch of feed sources in this process leaves no pool thread holding a database connection."""
    yield
    pool.close()


@pytest.fixture
def redis_url():
    """The real Redis; a test that needs it fails without it."""
    if not settings.REDIS_URL:
        pytest.fail("This test needs Redis: set REDIS_URL (make test starts one).")
    return settings.REDIS_URL


@pytest.fixture
def cast(db):
    """One user per role, a user with no role, and an inactive user."""
    # Transactional tests (real workers, the browser) flush the roles the migration created.
    call_command("sync_roles", verbosity=0)
    users = {
        name: UserFactory(email=f"{name.replace('_', '-')}@partner.example", roles=[role])
        for name, role in ROLE_PRINCIPALS.items()
    }
    users["no_role"] = UserFactory(email="no-role@partner.example")
    users["inactive"] = UserFactory(
        email="inactive@partner.example", roles=[Role.GLOBAL_ADMIN], is_active=False
    )
    return users


@pytest.fixture
def client_for(client, cast):
    """``client_for("helpdesk_agent")`` is a Django test client signed in as that user."""
    from django.test import Client

    def make(principal):
        if principal == "anonymous":
            return Client()
        signed_in = Client()
        signed_in.force_login(cast[principal])
        return signed_in

    return make


@pytest.fixture
def api_for(cast):
    """``api_for("helpdesk_agent")`` is a DRF test client that makes every request as that user."""
    return lambda principal: authenticated_api(cast[principal])


@pytest.fixture
def admin_api(cast):
    """The API as the cast's Global admin."""
    return authenticated_api(cast["global_admin"])


@pytest.fixture
def api_token_for(db):
    """``api_token_for(Role.X, scopes)`` creates an API client and returns its bearer token."""
    counter = iter(range(1000))

    def make(role, scopes=("read", "write")):
        _client, token = services.create_api_client(
            name=f"client-{role}-{next(counter)}", role=role, scopes=scopes
        )
        return token

    return make


@pytest.fixture
def portal_at_testserver(settings):
    # The test client's host, so event payloads and API answers carry the same absolute URLs.
    settings.PORTAL_BASE_URL = "http://testserver"


@pytest.fixture
def password():
    return PASSWORD


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Debian's chromium, never a downloaded browser (`playwright install` cannot run here)."""
    return {**browser_type_launch_args, "executable_path": CHROMIUM_PATH, "args": CHROMIUM_ARGS}


@pytest.fixture
def graph_simulator():
    """The bundled Graph simulator on a free loopback port, with one partner tenant.

    Yields ``(simulator, connection)``; tests add relationships to
    ``simulator.partner.relationships`` and script faults with ``simulator.fail_next``.
    """
    from outbound.graph import GraphConnection, clear_token_cache
    from simulators.graph import GraphSimulator, PartnerTenant
    from simulators.http import SimulatorServer

    partner = PartnerTenant(
        tenant_id="11111111-2222-3333-4444-555555555555",
        client_id="portal-app",
        client_secret="simulated-client-secret",
    )
    simulator = GraphSimulator(partner, page_size=2)
    clear_token_cache()
    with SimulatorServer(simulator) as server:
        yield (
            simulator,
            GraphConnection(
                base_url=f"{server.url}/v1.0",
                token_url=server.url + "/{tenant_id}/oauth2/v2.0/token",
                tenant_id=partner.tenant_id,
                client_id=partner.client_id,
                client_secret=partner.client_secret,
            ),
        )
    clear_token_cache()


@pytest.fixture
def service_health_simulator(db):
    """The bundled service-communications simulator on a free loopback port.

    Yields ``(simulator, add_source)``: ``add_source(customer=None)`` adds a simulated tenant
    and a FeedSource pointing at it (for ``customer``, or the partner's own tenant).
    """
    import uuid

    from outbound.graph import clear_token_cache
    from servicehealth.models import FeedSource
    from simulators.http import SimulatorServer
    from simulators.service_health.model import SERVICES
    from simulators.service_health.server import ServiceHealthSimulator

    simulator = ServiceHealthSimulator(page_size=5)
    for service_id, spec in SERVICES.items():
        simulator.add_service(service_id, spec[0])
    clear_token_cache()
    with SimulatorServer(simulator) as server:

        def add_source(customer=None, **fields):
            tenant_id = str(customer.tenant_id) if customer else str(uuid.uuid4())
            simulator.add_tenant(tenant_id, client_id="portal-app", client_secret="feed-secret")
            source = FeedSource(
                name=f"Feed of {customer or 'the partner'}",
                customer=customer,
                tenant_id=tenant_id,
                base_url=f"{server.url}/v1.0",
                token_url=server.url + "/{tenant_id}/oauth2/v2.0/token",
                client_id="portal-app",
                **fields,
            )
            source.client_secret = "feed-secret"
            source.save()
            return source

        yield simulator, add_source
    clear_token_cache()


@pytest.fixture
def customer_feeds(service_health_simulator):
    """``customer_feeds(n)`` answers the service-communications simulator and ``n`` pairs of a
    customer and the feed source of its tenant, which the simulator serves."""
    simulator, add_source = service_health_simulator

    def make(count):
        customers = [CustomerFactory() for _ in range(count)]
        return simulator, [(customer, add_source(customer)) for customer in customers]

    return make


@pytest.fixture
def customer_feed(customer_feeds):
    """``(simulator, customer, source)``: one customer whose tenant's feed the simulator serves."""
    simulator, [(customer, source)] = customer_feeds(1)
    return simulator, customer, source


@pytest.fixture
def entra_simulator():
    """The Entra ID token endpoint simulator on a free loopback port, for one partner tenant
    and app; ``simulator.base_url`` is its login URL."""
    from microsoft.services import clear_access_tokens
    from simulators.entra import EntraSimulator
    from simulators.http import SimulatorServer

    simulator = EntraSimulator(
        tenant_id="11111111-2222-3333-4444-555555555555",
        client_id="portal-app",
        client_secret="simulated-client-secret",
    )
    clear_access_tokens()
    with SimulatorServer(simulator) as server:
        yield server.app
    clear_access_tokens()


@pytest.fixture
def partner_center_simulator():
    """The Partner Center service-request simulator on a free loopback port."""
    from simulators.http import SimulatorServer
    from simulators.partner_center.server import PartnerCenterSimulator

    with SimulatorServer(PartnerCenterSimulator(token="pc-test-token")) as server:
        yield server.app


@pytest.fixture
def webhook_receiver():
    """A webhook receiver (a partner's ticketing endpoint) on a free loopback port."""
    from simulators.http import SimulatorServer
    from simulators.webhook_receiver import WebhookReceiver

    with SimulatorServer(WebhookReceiver(secret="receiver-signing-secret")) as server:
        yield server.app


@pytest.fixture
def psa_receiver():
    """A PSA's endpoint for the portal's webhooks on a free loopback port: verifies Standard
    Webhooks signatures made with ``tests.integrations.helpers.SECRET``."""
    from simulators.http import SimulatorServer
    from simulators.psa_webhooks import PsaWebhookReceiver
    from tests.integrations.helpers import SECRET

    with SimulatorServer(PsaWebhookReceiver(secret=SECRET)) as server:
        yield server.app


@pytest.fixture
def list_budget(django_assert_max_num_queries):
    """``list_budget(get, add_rows)``: ``get()`` lists rows once (a session's or a token's first
    request records it), then with 5 rows and with 40 (``add_rows(n)`` adds n), and the 40-row
    list may make no more queries than the 5-row one. Returns the 5-row response, the 40-row
    response and the number of queries the 5-row list made."""

    def measure(get, add_rows):
        add_rows(5)
        get()
        with CaptureQueriesContext(connection) as few:
            first = get()
        add_rows(35)
        with django_assert_max_num_queries(len(few)):
            last = get()
        return first, last, len(few)

    return measure
