import logging
import time

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import NoScriptError, RedisError

logger = logging.getLogger(__name__)

# After a failure, Redis is left alone this long. A Redis that hangs (stopped, or a network
# that drops packets) costs each call its socket timeout; without this every API request would
# wait it out, twice (the throttle reads and writes).
SKIP_SECONDS = 15


class ReusedRedisClient(RedisCacheClient):
    """Django builds a new redis-py client object for every command, and building one costs more
    than the command's round trip; these caches are asked on every API request, so keep one per
    connection pool (redis-py clients are thread-safe)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class FailOpenRedisCache(RedisCache):
    """A Redis cache that answers "nothing stored" while Redis is down.

    Used for the API's per-request caches (throttling, token grants): during an outage the API
    keeps answering, without limits and from the database, rather than failing every request.
    The tenants' Graph request budgets (core.outbound) are counted here too, uncounted during
    an outage as they always were. Login rate limits use the default cache, which fails
    closed. ``set_many`` is left strict: what must not be lost (a token's revocation) is
    written with it and fails loudly.
    """

    # Per process, for every instance (each thread has its own).
    down_until = 0.0

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = ReusedRedisClient

    def _call(self, operation, default, method, *args):
        if time.monotonic() < FailOpenRedisCache.down_until:
            return default
        try:
            return method(*args)
        except RedisError:
            FailOpenRedisCache.down_until = time.monotonic() + SKIP_SECONDS
            logger.warning(
                "API cache (throttle, token grants) unavailable during %s; failing open for %s s",
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

    def run_script(self, script, sha, keys, args, default):
        """Run the Lua ``script`` (``sha`` its SHA-1) on ``keys`` (one key, or a list of them):
        one round trip."""
        return self._call("script", default, self._run_script, script, sha, keys, args)

    def _run_script(self, script, sha, keys, args):
        keys = [
            self.make_and_validate_key(key) for key in ([keys] if isinstance(keys, str) else keys)
        ]
        client = self._cache.get_client(keys[0], write=True)
        try:
            return client.evalsha(sha, len(keys), *keys, *args)
        except NoScriptError:  # Redis restarted or flushed its scripts: send the text once
            return client.eval(script, len(keys), *keys, *args)
