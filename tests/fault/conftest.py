import pytest

from tests.fault.helpers import PrivateRedis, subscribe_to_opened_requests
from tests.servicerequests.helpers import deliver_only_to


@pytest.fixture
def fault_scale(request):
    """``--fault-scale``: how much bigger than the CI size a fault test should run."""
    scale = request.config.getoption("--fault-scale")
    if scale <= 0:
        pytest.fail("--fault-scale must be positive")
    return scale


@pytest.fixture
def both_outboxes(webhook_receiver, psa_receiver, cast):
    """Every service request escalated to the receiver simulator (the only channel enabled) and,
    once opened, sent as a webhook to the PSA receiver."""
    deliver_only_to(webhook_receiver)
    subscribe_to_opened_requests(psa_receiver, cast["global_admin"])


@pytest.fixture
def private_broker(tmp_path):
    """Point this process's Celery app at a private Redis for the test's duration."""
    from partnerportal.celery import app

    redis = PrivateRedis(tmp_path)
    redis.start()

    def use_broker(url, write_url):
        app.conf.broker_url, app.conf.broker_write_url = url, write_url
        # Connections and producers are pooled: drop them so the next publish uses ``url``.
        app._pool = None
        app.amqp._producer_pool = None

    saved = (app.conf.broker_url, app.conf.broker_write_url)
    use_broker(redis.url, redis.url)
    yield redis
    use_broker(*saved)
    if redis.process.poll() is None:
        redis.resume()  # a stopped process ignores SIGKILL until it runs again on some kernels
        redis.kill()
