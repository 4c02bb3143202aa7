import pytest

from core.cache import FailOpenRedisCache
from tests.helpers import unreachable_redis_cache


@pytest.fixture
def cut_off_token_cache(settings, monkeypatch):
    """``cut_off_token_cache()`` points the cache of API token grants and signed-in people's
    permissions (accounts.token_cache, accounts.permission_cache) at a port nothing listens on."""

    def cut_off():
        settings.CACHES = {**settings.CACHES, "api_tokens": unreachable_redis_cache()}
        monkeypatch.setattr(FailOpenRedisCache, "down_until", 0.0)

    return cut_off
