import logging
import time

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

# After a failure, Redis is left alone this long. A Redis that hangs (stopped, or a network
# that drops packets) costs each call its socket timeout; without this every API request would
# wait it out, twice (the throttle reads and writes).
SKIP_SECONDS = 15


class FailOpenRedisCache(RedisCache):
    """A Redis cache that answers "nothing stored" while Redis is down.

    Used for API throttling only: during an outage the API keeps answering without limits rather
    than failing every request. Login rate limits use the default cache, which fails closed.
    """

    # Per process, for every instance (each thread has its own).
    down_until = 0.0

    def _call(self, operation, default, method, *args):
        if time.monotonic() < FailOpenRedisCache.down_until:
            return default
        try:
            return method(*args)
        except RedisError:
            FailOpenRedisCache.down_until = time.monotonic() + SKIP_SECONDS
            logger.warning(
                "throttle cache unavailable during %s; failing open for %s s",
                operation,
                SKIP_SECONDS,
            )
            return default

    def get(self, key, default=None, version=None):
        return self._call("get", default, super().get, key, default, version)

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call("set", None, super().set, key, value, timeout, version)

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call("add", True, super().add, key, value, timeout, version)

    def delete(self, key, version=None):
        return self._call("delete", False, super().delete, key, version)
