import pytest

from simulators.http import SimulatorServer
from simulators.psa_webhooks import PsaWebhookReceiver
from tests.integrations.helpers import SECRET


@pytest.fixture
def receiver():
    """A PSA's webhook endpoint on a free loopback port, verifying with ``SECRET``."""
    receiver = PsaWebhookReceiver(secret=SECRET)
    server = SimulatorServer(receiver).start()
    receiver.base_url = server.url
    yield receiver
    receiver.release()
    server.stop()


@pytest.fixture
def admin(cast):
    return cast["global_admin"]
