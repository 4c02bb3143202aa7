"""Cached token grants (accounts.token_cache): no query on a hit, and every change to what a
token may do takes effect on the very next call, with the grant already cached."""

import itertools
import time
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.cache import caches
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from knox.crypto import hash_token
from knox.models import AuthToken
from redis.exceptions import RedisError

from accounts import services, token_cache
from accounts.models import ApiClient
from accounts.roles import Capability, Role
from sso.leavers import deactivate_leaver

ME = "/api/v1/me/"
CUSTOMERS = "/api/v1/customers/"

pytestmark = pytest.mark.django_db
_names = itertools.count()


def bearer(token):
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def get(url, token):
    return Client().get(url, **bearer(token))


def make_client(scopes=("read",), **fields):
    return services.create_api_client(
        name=f"PSA {next(_names)}", role=Role.HELPDESK_AGENT, scopes=scopes, **fields
    )


def grant(token):
    return caches["api_tokens"].get(token_cache.KEY % hash_token(token))


@pytest.fixture
def cached():
    """A client whose token's grant is in the cache, its last use already recorded."""
    client, token = make_client()
    assert get(CUSTOMERS, token).status_code == 200
    assert isinstance(grant(token), dict)
    return client, token


@pytest.fixture
def admin(cast):
    return cast["global_admin"]


@pytest.fixture
def signed_in_admin(client_for):
    return client_for("global_admin")


@pytest.fixture
def later(monkeypatch):
    """Move the clock ``later(delta)`` forward."""

    def move(delta):
        moved = timezone.now() + delta
        monkeypatch.setattr(timezone, "now", lambda: moved)

    return move


# --- the hit ----------------------------------------------------------------------------------


def test_a_cached_token_asks_no_query(cached, django_assert_num_queries):
    _client, token = cached
    # /me/ reads the role names for its answer: the one query; the token, the client, the
    # permissions and the throttle cost none.
    with django_assert_num_queries(1):
        response = get(ME, token)
    assert response.status_code == 200
    assert response.json()["capabilities"] == ["view_support", "work_support"]


def test_the_cache_holds_the_digest_not_the_token(cached):
    _client, token = cached
    redis = caches["api_tokens"]._cache.get_client(write=True)
    keys = [key.decode() for key in redis.keys("*")]
    assert any(hash_token(token) in key for key in keys)
    assert not any(token in key for key in keys)
    assert "password" not in grant(token)["user"]


def test_last_use_is_recorded_about_once_a_minute_not_per_call(cached, later):
    client, token = cached
    first = ApiClient.objects.get(pk=client.pk).last_used_at
    assert get(ME, token).status_code == 200
    assert ApiClient.objects.get(pk=client.pk).last_used_at == first
    # Once the grant has run out the database is read again, and the use recorded.
    caches["api_tokens"].delete(token_cache.KEY % hash_token(token))
    later(timedelta(minutes=2))
    assert get(ME, token).status_code == 200
    assert ApiClient.objects.get(pk=client.pk).last_used_at > first


# --- every change takes effect at once ------------------------------------------------------


def test_revoking_the_client(cached, signed_in_admin):
    client, token = cached
    signed_in_admin.post(reverse("accounts:api_client_revoke", args=[client.pk]))
    assert get(ME, token).status_code == 401


def test_rotating_without_grace(cached, signed_in_admin, settings):
    settings.API_TOKEN_ROTATION_GRACE_HOURS = 0
    client, old = cached
    response = signed_in_admin.post(reverse("accounts:api_client_rotate", args=[client.pk]))
    assert get(ME, old).status_code == 401
    assert get(ME, response.context["token"]).status_code == 200


def test_rotating_with_grace_ends_the_old_token_at_the_grace_end(cached, signed_in_admin, later):
    client, old = cached
    signed_in_admin.post(reverse("accounts:api_client_rotate", args=[client.pk]))
    assert get(ME, old).status_code == 200  # within the grace, cached again
    later(timedelta(hours=25))
    assert get(ME, old).status_code == 401
    assert not AuthToken.objects.filter(token_key=old[:15]).exists()


def test_an_expired_token_is_refused_though_cached(later):
    client, token = make_client()
    AuthToken.objects.filter(user=client.user).update(expiry=timezone.now() + timedelta(hours=1))
    assert get(ME, token).status_code == 200
    assert grant(token)["token"]["expiry"] is not None
    later(timedelta(hours=2))
    assert get(ME, token).status_code == 401


def test_removing_a_scope(cached, signed_in_admin):
    client, token = cached
    url = reverse("accounts:api_client_edit", args=[client.pk])
    signed_in_admin.post(url, {"scope_incidents": "read"})
    assert get(CUSTOMERS, token).status_code == 403


def test_changing_the_rate_limit(cached, signed_in_admin):
    client, token = cached
    url = reverse("accounts:api_client_edit", args=[client.pk])
    signed_in_admin.post(url, {"scope_customers": "read", "rate_limit": "2/hour"})
    assert get(ME, token).status_code == 200  # the fixture's call was the first
    assert get(ME, token).status_code == 429


def test_deactivating_the_user(cached):
    client, token = cached
    client.user.is_active = False
    client.user.save()
    assert get(ME, token).status_code == 401


def test_an_sso_leaver_sweep(cached):
    client, token = cached
    deactivate_leaver(client.user, "disabled")
    assert get(ME, token).status_code == 401


def test_changing_the_role(cached):
    client, token = cached
    # As Django's admin does it: the groups, without the portal's services.
    client.user.groups.set([Group.objects.get(name=Role.USER_MANAGEMENT_ADMIN)])
    assert get(CUSTOMERS, token).status_code == 404


def test_taking_a_capability_from_the_role(cached):
    _client, token = cached
    helpdesk = Group.objects.get(name=Role.HELPDESK_AGENT)
    helpdesk.permissions.remove(Permission.objects.get(codename=Capability.VIEW_SUPPORT))
    assert get(CUSTOMERS, token).status_code == 404


def test_deleting_the_client_row(cached):
    client, token = cached
    client.delete()  # Django's admin could; the user and its tokens stay
    assert get(ME, token).status_code == 401


def test_deleting_the_token(cached):
    client, token = cached
    AuthToken.objects.filter(user=client.user).delete()
    assert get(ME, token).status_code == 401


def test_a_grant_read_before_a_change_is_not_cached_after_it(cached):
    """A request that read the database before the change commits cannot cache the old grant."""
    client, token = cached
    user, auth_token = token_cache.load(hash_token(token))
    read_at = time.monotonic()
    token_cache.forget_user_grants(client.user_id)
    token_cache.store(hash_token(token), user, auth_token, read_at)
    assert grant(token) == token_cache.TOMBSTONE


# --- Redis unreachable ----------------------------------------------------------------------


def test_without_redis_the_database_decides(cut_off_token_cache):
    client, token = make_client()
    cut_off_token_cache()
    assert get(ME, token).status_code == 200
    ApiClient.objects.filter(pk=client.pk).update(revoked_at=timezone.now())
    assert get(ME, token).status_code == 401


def test_a_revocation_that_cannot_reach_redis_is_refused(cut_off_token_cache, rf, admin):
    client, token = make_client()
    cut_off_token_cache()
    request = rf.post("/")
    request.user = admin
    with pytest.raises(RedisError):
        services.revoke_api_client(request, client)
    assert ApiClient.objects.get(pk=client.pk).revoked_at is None
