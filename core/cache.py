import logging

from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)


class FailOpenRedisCache(RedisCache):
    """A Redis cache that answers "nothing stored" while Redis is down.

    Used for API throttling only: during an outage the API keeps answering without limits rather
    than failing every request. Login rate limits use the default cache, which fails closed.
    """

    def _fail_open(self, operation, default):
        logger.warning("throttle cache unavailable during %s; failing open", operation)
        return default

    def get(self, key, default=None, version=None):
        try:
            return super().get(key, default, version)
        except RedisError:
            return self._fail_open("get", default)

    def set(self, key, value, timeout=None, version=None):
        try:
            return super().set(key, value, timeout, version)
        except RedisError:
            return self._fail_open("set", None)

    def add(self, key, value, timeout=None, version=None):
        try:
            return super().add(key, value, timeout, version)
        except RedisError:
            return self._fail_open("add", True)

    def delete(self, key, version=None):
        try:
            return super().delete(key, version)
        except RedisError:
            return self._fail_open("delete", False)
