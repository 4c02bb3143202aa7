"""S5: a flood of anonymous calls or made-up tokens from one address ends in 429, not endless 401s.

DRF refuses credentials and permissions before it looks at throttles, so these calls are counted
on their way to the 401 (``core.throttling.refuse_unauthenticated``).
"""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

URL = "/api/v1/customers/"


@pytest.fixture
def three_per_minute(settings):
    from core.throttling import AnonymousRateThrottle, RefusedCallThrottle

    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "anonymous": "3/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    # DRF reads the rates once, at import.
    originals = AnonymousRateThrottle.THROTTLE_RATES, RefusedCallThrottle.THROTTLE_RATES
    AnonymousRateThrottle.THROTTLE_RATES = RefusedCallThrottle.THROTTLE_RATES = rates
    yield
    AnonymousRateThrottle.THROTTLE_RATES, RefusedCallThrottle.THROTTLE_RATES = originals


def test_anonymous_calls_are_refused_then_throttled(three_per_minute):
    client = Client()
    statuses = [client.get(URL).status_code for _ in range(5)]
    assert statuses == [401, 401, 401, 429, 429]
    throttled = client.get(URL)
    assert int(throttled["Retry-After"]) > 0
    assert throttled.json()["errors"][0]["code"] == "throttled"


def test_made_up_tokens_are_refused_then_throttled(three_per_minute):
    client = Client()
    statuses = [
        client.get(URL, HTTP_AUTHORIZATION=f"Bearer {n:064x}").status_code for n in range(5)
    ]
    assert statuses == [401, 401, 401, 429, 429]


def test_a_real_client_on_the_same_address_is_not_held_up(three_per_minute, api_token_for):
    token = api_token_for("helpdesk_agent")
    client = Client()
    for _ in range(5):
        client.get(URL)
    assert client.get(URL, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200


def test_another_address_has_its_own_bucket(three_per_minute):
    for _ in range(4):
        Client(REMOTE_ADDR="127.0.0.2").get(URL)
    assert Client(REMOTE_ADDR="127.0.0.3").get(URL).status_code == 401
