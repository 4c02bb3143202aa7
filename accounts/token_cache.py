"""API token grants cached per token digest: a request with a known token asks no query.

A grant is what ``accounts.authentication`` needs to let a request in: the token (with its
expiry), its user, the user's API client (scopes, rate limit, revoked flag) and the permissions
the user's role gives. It lives in the ``api_tokens`` cache for ``API_TOKEN_CACHE_SECONDS``,
keyed by knox's digest of the token, never the token. That cache fails open (core.cache): while
Redis is down every request is checked against the database, as before.

Revocation is effective at once. Whatever changes what a token may do replaces the grants
concerned by a tombstone *before* the change is committed: the receivers below, and
``forget_tokens`` where a queryset update sends no signal. A grant is only ever added where
nothing is stored, so a request that read the database before the change cannot put the old
grant back while the tombstone lasts. A signed-in person's permissions, cached the same way
(accounts.permission_cache), are revoked by the receivers of group, permission and role changes.
Writing a tombstone fails loudly (``set_many`` is strict in core.cache): a change that cannot
reach Redis is refused rather than left half-effective.

Signals rather than calls in each service: staff pages, SSO leavers, Django's admin and the shell
all change these rows, and a receiver on the model is the one place none of them can skip.
"""

import time

from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.core.cache import caches
from django.db import DEFAULT_DB_ALIAS
from django.db.models.base import DEFERRED
from django.db.models.signals import m2m_changed, pre_delete, pre_save
from django.dispatch import receiver
from django.utils import timezone
from knox.models import AuthToken

from accounts.models import ApiClient, User

KEY = "grant:%s"
# A user's permissions, for their pages (accounts.permission_cache), keyed by the user's id and
# superuser flag: a superuser's set is every permission, so losing the flag must miss the cache.
# Being active is read from the user's row on every request, so no other change to the row
# touches these keys (and a leaver's deactivation does not need Redis).
PERMISSIONS_KEY = "permissions:%s:%d"


def permissions_keys(user_id):
    return [PERMISSIONS_KEY % (user_id, superuser) for superuser in (0, 1)]


TOMBSTONE = "revoked"
# A request caches what it read from the database only if it read it this recently...
STALE_READ_SECONDS = 5
# ...and a tombstone outlasts that by far more than the transaction that commits the change.
TOMBSTONE_SECONDS = 60
# Saving only these changes nothing a token may do (a person's sign-in stamps last_login).
INERT_USER_FIELDS = frozenset({"last_login"})


def grants_cache():
    """Where the grants live: API tokens' here, signed-in people's permissions beside them."""
    return caches["api_tokens"]


def _values(instance, exclude=()):
    return {
        field.attname: getattr(instance, field.attname)
        for field in instance._meta.concrete_fields
        if field.attname not in exclude
    }


def _instance(model, values):
    """The model instance as the ORM would load it; fields not in ``values`` stay deferred."""
    fields = model._meta.concrete_fields
    return model.from_db(
        DEFAULT_DB_ALIAS,
        [field.attname for field in fields],
        [values.get(field.attname, DEFERRED) for field in fields],
    )


def load(digest):
    """``(user, token)`` from the cached grant, or ``None`` (nothing cached, or revoked)."""
    if not settings.API_TOKEN_CACHE_SECONDS:
        return None
    grant = grants_cache().get(KEY % digest)
    if not isinstance(grant, dict):
        return None
    user = _instance(User, grant["user"])
    # Where ModelBackend keeps the permissions it read: has_perm asks no query.
    user._perm_cache = set(grant["permissions"])
    user.api_client = _instance(ApiClient, grant["client"])
    token = _instance(AuthToken, grant["token"])
    token.user = user
    return user, token


def store(digest, user, token, read_at):
    """Cache the grant of a token the database has just accepted (``read_at``: when, monotonic)."""
    seconds = settings.API_TOKEN_CACHE_SECONDS
    if token.expiry is not None:
        seconds = min(seconds, int((token.expiry - timezone.now()).total_seconds()))
    if seconds <= 0 or not fresh(read_at):
        return
    grant = {
        # The password hash has no business in a cache; nothing on the API's path reads it.
        "user": _values(user, exclude={"password"}),
        "client": _values(user.api_client),
        "token": _values(token),
        "permissions": frozenset(user.get_all_permissions()),
    }
    grants_cache().add(KEY % digest, grant, seconds)


def fresh(read_at):
    """Whether what the database said at ``read_at`` (monotonic) may still be cached: a read
    older than a tombstone's life could outlive the change the tombstone stood for."""
    return time.monotonic() - read_at <= STALE_READ_SECONDS


def forget_tokens(tokens):
    """Revoke the cached grants of ``tokens`` (an ``AuthToken`` queryset), before a change to
    them commits. Call it where a queryset update bypasses the receivers below."""
    _forget(tokens.values_list("digest", flat=True))


def forget_user_grants(user_id):
    """The user's tokens' grants and the user's cached permissions."""
    _forget(AuthToken.objects.filter(user_id=user_id).values_list("digest", flat=True), [user_id])


def forget_all_grants():
    """For a change to a role's permissions: rare, and it may touch any client or person."""
    _forget(
        AuthToken.objects.values_list("digest", flat=True),
        User.objects.values_list("pk", flat=True),
    )


def _forget(digests, user_ids=()):
    keys = [KEY % digest for digest in digests]
    keys += [key for user_id in user_ids for key in permissions_keys(user_id)]
    if keys:
        grants_cache().set_many(dict.fromkeys(keys, TOMBSTONE), TOMBSTONE_SECONDS)


@receiver(pre_save, sender=AuthToken, dispatch_uid="token_cache.token_saved")
def _token_saved(sender, instance, raw=False, **kwargs):
    if not instance._state.adding:
        _forget([instance.digest])


@receiver(pre_delete, sender=AuthToken, dispatch_uid="token_cache.token_deleted")
def _token_deleted(sender, instance, **kwargs):
    _forget([instance.digest])


@receiver(pre_save, sender=ApiClient, dispatch_uid="token_cache.client_saved")
@receiver(pre_delete, sender=ApiClient, dispatch_uid="token_cache.client_deleted")
def _client_changed(sender, instance, **kwargs):
    if not instance._state.adding:
        forget_tokens(AuthToken.objects.filter(user_id=instance.user_id))


@receiver(pre_save, sender=User, dispatch_uid="token_cache.user_saved")
def _user_saved(sender, instance, raw=False, update_fields=None, **kwargs):
    if instance._state.adding or (update_fields and set(update_fields) <= INERT_USER_FIELDS):
        return
    forget_tokens(AuthToken.objects.filter(user_id=instance.pk))


def _user_links_changed(sender, instance, action, reverse, **kwargs):
    """A user's groups or own permissions: one user's tokens, or, from the group's or the
    permission's side, those of everyone it reaches."""
    if not action.startswith("pre_"):
        return
    if reverse:
        forget_all_grants()
    else:
        forget_user_grants(instance.pk)


def _role_changed(sender, instance=None, action="pre_", **kwargs):
    """A group's permissions, or a group or permission renamed or deleted."""
    if action.startswith("pre_") and not instance._state.adding:
        forget_all_grants()


for _through in (User.groups.through, User.user_permissions.through):
    m2m_changed.connect(
        _user_links_changed, sender=_through, dispatch_uid=f"token_cache.{_through}"
    )
m2m_changed.connect(
    _role_changed, sender=Group.permissions.through, dispatch_uid="token_cache.role"
)
for _model in (Group, Permission):
    pre_save.connect(_role_changed, sender=_model, dispatch_uid=f"token_cache.{_model}.saved")
    pre_delete.connect(_role_changed, sender=_model, dispatch_uid=f"token_cache.{_model}.deleted")
