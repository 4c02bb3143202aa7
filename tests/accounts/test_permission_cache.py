"""A signed-in person's permissions cached per user (accounts.permission_cache): a page asks no
query for them, and every change to what the person may do shows on the very next page, with the
permissions already cached."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.cache import caches
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from redis.exceptions import RedisError

from accounts import permission_cache, token_cache
from accounts.models import User
from accounts.roles import Capability, Role

pytestmark = pytest.mark.django_db


def cached_permissions(user):
    return caches["api_tokens"].get(token_cache.PERMISSIONS_KEY % (user.pk, user.is_superuser))


def tombstones_expire():
    """A minute on: the tombstones written when the test's users were given their roles are
    gone, as they are for anyone whose role has not changed in the last minute."""
    caches["api_tokens"].clear()


def customers(client):
    return client.get(reverse("customers:list")).status_code


@pytest.fixture
def agent(client_for, cast):
    """A signed-in helpdesk agent whose permissions are cached: (client, user)."""
    tombstones_expire()
    client = client_for("helpdesk_agent")
    assert customers(client) == 200
    user = cast["helpdesk_agent"]
    assert cached_permissions(user) == {"accounts.view_support", "accounts.work_support"}
    return client, user


def test_a_page_asks_no_query_for_the_permissions(agent):
    client, _user = agent
    with CaptureQueriesContext(connection) as queries:
        assert customers(client) == 200
    assert queries
    assert not [query for query in queries if "auth_permission" in query["sql"]]


def test_changing_the_role(agent):
    client, user = agent
    # As Django's admin does it: the groups, without the portal's services.
    user.groups.set([Group.objects.get(name=Role.USER_MANAGEMENT_ADMIN)])
    assert customers(client) == 404
    assert client.get(reverse("accounts:staff_list")).status_code == 200


def test_taking_a_capability_from_the_role(agent):
    client, _user = agent
    helpdesk = Group.objects.get(name=Role.HELPDESK_AGENT)
    helpdesk.permissions.remove(Permission.objects.get(codename=Capability.VIEW_SUPPORT))
    assert customers(client) == 404


def test_giving_the_user_a_permission_of_their_own(agent):
    client, user = agent
    assert client.get(reverse("customers:create")).status_code == 403
    user.user_permissions.add(Permission.objects.get(codename=Capability.MANAGE_CUSTOMERS))
    assert client.get(reverse("customers:create")).status_code == 200


def test_deleting_the_role(agent):
    client, _user = agent
    Group.objects.get(name=Role.HELPDESK_AGENT).delete()
    assert customers(client) == 404


def test_deactivating_the_user(agent):
    client, user = agent
    user.is_active = False
    user.save()
    response = client.get(reverse("customers:list"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("account_login"))


def test_permissions_read_before_a_change_are_not_cached_after_it(agent):
    """A request that read the database before the change commits cannot cache what it read."""
    _client, user = agent
    token_cache.forget_user_grants(user.pk)
    user.refresh_from_db()  # a fresh request's user: nothing attached yet
    permission_cache.attach(user)
    assert cached_permissions(user) == token_cache.TOMBSTONE
    assert user.has_capability(Capability.VIEW_SUPPORT)  # this request read the database


def test_without_redis_the_database_decides(agent, cut_off_token_cache):
    client, user = agent
    cut_off_token_cache()
    assert customers(client) == 200
    # What the cut-off cache still holds cannot be revoked: the change is refused instead.
    with pytest.raises(RedisError), transaction.atomic():
        user.groups.clear()
    assert customers(client) == 200
    User.objects.filter(pk=user.pk).update(is_active=False)  # the user's row is read each time
    assert customers(client) == 302


def test_a_superuser_who_loses_the_flag_loses_every_permission_at_once(client_for, cast):
    user = cast["no_role"]
    User.objects.filter(pk=user.pk).update(is_superuser=True)  # no receiver runs for this
    tombstones_expire()
    client = client_for("no_role")
    assert customers(client) == 200  # every permission, now cached
    User.objects.filter(pk=user.pk).update(is_superuser=False)
    assert customers(client) == 404  # what a person without the capability is told


def test_a_leaver_is_deactivated_while_redis_is_down(agent, cut_off_token_cache):
    """The user's row is read on every request, so saving it needs no tombstone: a leaver's
    deactivation (SSO's sync, a Global admin's page) does not wait for Redis."""
    client, user = agent
    cut_off_token_cache()
    user.is_active = False
    user.save()
    assert customers(client) == 302
