"""The API throttle keeps DRF's rates, buckets and Retry-After in one Redis round trip per call
(core.throttling), and the same limits hold on the process-memory cache used without Redis."""

import pytest
from django.core.cache import caches
from django.test import Client

from accounts import services
from accounts.roles import Role
from core.throttling import ClientRateThrottle

ME = "/api/v1/me/"

pytestmark = pytest.mark.django_db


def call(token):
    return Client().get(ME, HTTP_AUTHORIZATION=f"Bearer {token}")


def make_client(rate_limit):
    client, token = services.create_api_client(
        name=f"PSA {rate_limit}",
        role=Role.HELPDESK_AGENT,
        scopes=["read"],
        rate_limit=rate_limit,
    )
    return client, token


@pytest.fixture
def clock(monkeypatch):
    """The throttle's clock, set by hand: ``clock(seconds)``."""

    def set_to(seconds):
        monkeypatch.setattr(
            ClientRateThrottle, "timer", staticmethod(lambda: 1_800_000_000.0 + seconds)
        )

    set_to(0)
    return set_to


def test_the_call_after_the_limit_gets_429_and_is_not_recorded(clock):
    client, token = make_client("5/min")
    statuses = [call(token).status_code for _n in range(7)]
    assert statuses == [200] * 5 + [429] * 2
    throttle_cache = caches["throttle"]
    key = ClientRateThrottle.cache_format % {"scope": "client", "ident": client.user_id}
    redis = throttle_cache._cache.get_client(write=True)
    assert redis.zcard(throttle_cache.make_and_validate_key(key)) == 5


def test_retry_after_is_drfs_estimate_and_the_window_slides(clock):
    _client, token = make_client("2/min")
    assert call(token).status_code == 200
    clock(10)
    assert call(token).status_code == 200
    clock(20)
    refused = call(token)
    assert refused.status_code == 429
    # The oldest call leaves the window 40 s from now; one place is then free.
    assert refused["Retry-After"] == "40"
    clock(61)  # the first call has left the window, the second has not
    assert call(token).status_code == 200
    assert call(token).status_code == 429


def test_without_redis_the_same_limits_hold(settings, clock):
    settings.CACHES = {
        **settings.CACHES,
        "throttle": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "t"},
    }
    _client, token = make_client("2/min")
    statuses = [call(token).status_code for _n in range(3)]
    assert statuses == [200, 200, 429]
    assert call(token)["Retry-After"] == "60"
