"""A signed-in person's permissions cached per user: a page asks no query for them.

Every page checks the user's capabilities (the view's decorator, the menu), and Django's
ModelBackend reads them with two queries per request. Here they are kept in the ``api_tokens``
cache beside the API's token grants, for as long (``API_TOKEN_CACHE_SECONDS``), and revoked by
the same mechanism: accounts.token_cache's receivers replace them with a tombstone before any
change to the user's groups or own permissions, or to a role, commits (the key carries the
superuser flag); an entry is
only ever added where nothing is stored, and only from a fresh read. While Redis is down the
cache answers "nothing stored" and every request reads the database, as before.

Only the permission set is cached: the user's row (active, superuser) is read on every request
as before, so a deactivated user is out at once whatever is cached.
"""

import time

from django.conf import settings

from accounts import token_cache


def attach(user):
    """Give a signed-in, active ``user`` its permissions where ModelBackend keeps them for the
    request (``_perm_cache``): from the cache, or read from the database and then cached."""
    seconds = settings.API_TOKEN_CACHE_SECONDS
    if not seconds:
        return
    cache = token_cache.grants_cache()
    key = token_cache.PERMISSIONS_KEY % (user.pk, user.is_superuser)
    cached = cache.get(key)
    if isinstance(cached, frozenset):
        user._perm_cache = set(cached)
        return
    read_at = time.monotonic()
    permissions = frozenset(user.get_all_permissions())
    if cached is None and token_cache.fresh(read_at):
        cache.add(key, permissions, seconds)


class CachedPermissionsMiddleware:
    """Attaches the signed-in user's cached permissions before any view or template asks.

    API clients authenticate with a token later, in DRF, and carry their permissions in their
    token's grant; ``request.user`` is anonymous here for them."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if user.is_authenticated and user.is_active:
            attach(user)
        return self.get_response(request)
