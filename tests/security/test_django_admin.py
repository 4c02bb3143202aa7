"""Django's admin site never bypasses the portal's sign-in, second factor and audit log.

Off (the default) it is not served at all. On, its login page signs nobody in (it sends people
to the portal's sign-in), it admits only active Global admins whose session was signed in with a
second factor, and every change made through it is in the audit log.
"""

import importlib
import os

import pytest
from allauth.account.internal.flows.login import record_authentication
from allauth.account.models import EmailAddress
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.conf import settings as django_settings
from django.contrib.auth.models import Group
from django.test import Client, RequestFactory
from django.urls import clear_url_caches, reverse
from django.utils import timezone

from accounts.models import User
from core.models import AuditEntry, WorkerHeartbeat
from tests.accounts.test_mfa import code_for, second_factor
from tests.accounts.test_sessions import sign_in
from tests.factories import PASSWORD, UserFactory
from tests.test_access_matrix import PEOPLE, URL_ACCESS, project_url_names
from tests.test_settings import assert_checks_pass, run_django

ADMIN = "/django-admin/"
OTHER_PEOPLE = ["user_management_admin", "admin_agent", "helpdesk_agent", "no_role"]


def reload_urls():
    clear_url_caches()
    importlib.reload(importlib.import_module(django_settings.ROOT_URLCONF))
    clear_url_caches()


def admin_enabled(settings, enabled):
    original = settings.DJANGO_ADMIN_ENABLED
    settings.DJANGO_ADMIN_ENABLED = enabled
    reload_urls()
    yield
    settings.DJANGO_ADMIN_ENABLED = original
    reload_urls()


@pytest.fixture
def admin_on(settings):
    yield from admin_enabled(settings, True)


@pytest.fixture
def admin_off(settings):
    yield from admin_enabled(settings, False)


def verify_mfa(client, user):
    """Record in the client's session that its sign-in included a second factor (TOTP), as
    allauth does when the code is accepted."""
    session = client.session
    request = RequestFactory().get("/")
    request.session = session
    request.user = user
    record_authentication(request, user, "password", email=user.email)
    record_authentication(request, user, "mfa", type="totp")
    session.save()


def signed_in(user, *, mfa, **defaults):
    client = Client(raise_request_exception=False, **defaults)
    client.force_login(user)
    if mfa:
        verify_mfa(client, user)
    return client


@pytest.fixture
def global_admin_client(cast):
    return signed_in(cast["global_admin"], mfa=True, REMOTE_ADDR="198.51.100.7")


# --- off --------------------------------------------------------------------------------------


def test_it_is_off_unless_enabled(tmp_path):
    result = run_django({}, "print(settings.DJANGO_ADMIN_ENABLED)", tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("path", [ADMIN, f"{ADMIN}login/", f"{ADMIN}accounts/user/"])
@pytest.mark.parametrize("principal", [*PEOPLE, "mfa_global_admin"])
def test_off_it_is_not_found_for_anyone(admin_off, cast, principal, path):
    if principal == "anonymous":
        client = Client()
    else:
        name = "global_admin" if principal == "mfa_global_admin" else principal
        client = signed_in(cast[name], mfa=principal == "mfa_global_admin")
    assert client.get(path).status_code == 404
    assert client.post(path, {"username": "x", "password": "y"}).status_code == 404


# --- its login page -------------------------------------------------------------------------


def test_its_login_page_sends_people_to_the_portals_sign_in(admin_on, db):
    response = Client().get(f"{ADMIN}login/", {"next": f"{ADMIN}accounts/user/"})
    assert response.status_code == 302
    assert response["Location"] == (f"{reverse('account_login')}?next=/django-admin/accounts/user/")


@pytest.mark.parametrize("next_url", ["https://elsewhere.example/", "javascript:alert(1)", ""])
def test_its_login_page_keeps_next_on_the_site(admin_on, db, next_url):
    response = Client().get(f"{ADMIN}login/", {"next": next_url})
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('account_login')}?next=/django-admin/"


def test_posting_a_password_to_its_login_page_signs_nobody_in(admin_on, db):
    # Even Django's own operator: staff, superuser, the right password.
    UserFactory(email="operator@partner.example", is_staff=True, is_superuser=True)
    client = Client(enforce_csrf_checks=False)
    for field in ("username", "email", "login"):
        response = client.post(
            f"{ADMIN}login/",
            {field: "operator@partner.example", "password": PASSWORD, "next": ADMIN},
        )
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("account_login"))
        assert "_auth_user_id" not in client.session
    assert client.get(ADMIN).status_code == 302


def test_anonymous_visitors_are_sent_to_the_portals_sign_in(admin_on, db):
    response = Client().get(f"{ADMIN}accounts/user/")
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('account_login')}?next=/django-admin/accounts/user/"


def test_an_inactive_global_admin_is_not_let_in(admin_on, cast):
    client = signed_in(cast["inactive"], mfa=True)
    response = client.get(ADMIN)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


# --- who it admits ------------------------------------------------------------------------


@pytest.mark.parametrize("path", [ADMIN, f"{ADMIN}accounts/user/", f"{ADMIN}login/"])
def test_a_global_admin_without_a_second_factor_this_session_is_refused(admin_on, cast, path):
    assert signed_in(cast["global_admin"], mfa=False).get(path).status_code == 403


@pytest.mark.parametrize("principal", OTHER_PEOPLE)
def test_other_roles_are_refused_even_with_a_second_factor(admin_on, cast, principal):
    client = signed_in(cast[principal], mfa=True)
    assert client.get(ADMIN).status_code == 403
    assert client.get(f"{ADMIN}accounts/user/").status_code == 403


def test_djangos_staff_and_superuser_flags_open_nothing(admin_on, db):
    operator = UserFactory(is_staff=True, is_superuser=True)
    assert signed_in(operator, mfa=True).get(ADMIN).status_code == 403


def test_a_global_admin_signed_in_with_a_second_factor_is_admitted(admin_on, global_admin_client):
    assert global_admin_client.get(ADMIN).status_code == 200
    assert global_admin_client.get(f"{ADMIN}accounts/user/").status_code == 200
    # Already in: the login page just goes on.
    response = global_admin_client.get(f"{ADMIN}login/")
    assert (response.status_code, response["Location"]) == (302, ADMIN)


def test_through_the_portals_sign_in_with_totp(admin_on, cast, password):
    secret = generate_totp_secret()
    TOTP.activate(cast["global_admin"], secret)
    client = Client()
    sign_in(client, password, email=cast["global_admin"].email, next_url=ADMIN)
    response = second_factor(client, code_for(secret))
    assert (response.status_code, response["Location"]) == (302, ADMIN)
    assert client.get(ADMIN).status_code == 200


def test_through_the_portals_sign_in_with_a_password_only(admin_on, cast, password):
    client = Client()
    sign_in(client, password, email=cast["global_admin"].email)
    assert client.get(ADMIN).status_code == 403


def test_its_sign_out_and_password_pages_are_the_portals(admin_on, global_admin_client):
    response = global_admin_client.post(f"{ADMIN}logout/")
    assert (response.status_code, response["Location"]) == (302, reverse("account_logout"))
    response = global_admin_client.get(f"{ADMIN}password_change/")
    assert (response.status_code, response["Location"]) == (
        302,
        reverse("account_change_password"),
    )


# --- the audit log ---------------------------------------------------------------------------


def audit_entries(action):
    return list(AuditEntry.objects.filter(action=action).order_by("pk"))


def assert_audited(entry, actor, target):
    assert entry.actor == actor
    assert entry.target_type == target._meta.label_lower
    assert entry.target_id == str(target.pk)
    assert entry.ip_address == "198.51.100.7"
    assert entry.request_id == "req-django-admin-1"


def test_a_change_made_through_it_is_audited(admin_on, cast, global_admin_client):
    target = cast["helpdesk_agent"]
    response = global_admin_client.post(
        f"{ADMIN}accounts/user/{target.pk}/change/",
        {
            "email": target.email,
            "full_name": "Renamed Through The Admin",
            "language": "",
            "is_active": "on",
            "groups": [group.pk for group in target.groups.all()],
        },
        HTTP_X_REQUEST_ID="req-django-admin-1",
    )
    assert response.status_code == 302, response.content[:500]
    target.refresh_from_db()
    assert target.full_name == "Renamed Through The Admin"
    (entry,) = audit_entries("django_admin.changed")
    assert_audited(entry, cast["global_admin"], target)
    assert entry.after == {"changes": [{"changed": {"fields": ["Full name"]}}]}


def test_setting_a_password_through_it_is_audited_without_the_password(
    admin_on, cast, global_admin_client
):
    target = cast["helpdesk_agent"]
    new_password = "Canary-Admin-Set-1"
    response = global_admin_client.post(
        f"{ADMIN}accounts/user/{target.pk}/password/",
        {"password1": new_password, "password2": new_password, "usable_password": "true"},
        HTTP_X_REQUEST_ID="req-django-admin-1",
    )
    assert response.status_code == 302, response.content[:500]
    (entry,) = audit_entries("django_admin.changed")
    assert_audited(entry, cast["global_admin"], target)
    assert new_password not in str(entry.after)
    assert User.objects.get(pk=target.pk).password not in str(entry.after)


def test_additions_and_deletions_are_audited(admin_on, cast, global_admin_client):
    response = global_admin_client.post(
        f"{ADMIN}core/workerheartbeat/add/",
        {"queue": "feeds", "last_seen_0": "2025-01-01", "last_seen_1": "10:00:00", "hostname": ""},
        HTTP_X_REQUEST_ID="req-django-admin-1",
    )
    assert response.status_code == 302, response.content[:500]
    heartbeat = WorkerHeartbeat.objects.get(queue="feeds")
    (added,) = audit_entries("django_admin.added")
    assert_audited(added, cast["global_admin"], heartbeat)

    response = global_admin_client.post(
        f"{ADMIN}core/workerheartbeat/feeds/delete/",
        {"post": "yes"},
        HTTP_X_REQUEST_ID="req-django-admin-1",
    )
    assert response.status_code == 302
    assert not WorkerHeartbeat.objects.filter(queue="feeds").exists()
    (deleted,) = audit_entries("django_admin.deleted")
    assert_audited(deleted, cast["global_admin"], heartbeat)


def test_a_bulk_delete_audits_every_object(admin_on, cast, global_admin_client):
    heartbeats = [
        WorkerHeartbeat.objects.create(queue=queue, last_seen=timezone.now())
        for queue in ("feeds", "escalations", "webhooks")
    ]
    changelist = f"{ADMIN}core/workerheartbeat/"
    selection = {"action": "delete_selected", "_selected_action": [h.pk for h in heartbeats]}
    # The confirmation page changes nothing...
    assert global_admin_client.post(changelist, selection).status_code == 200
    assert audit_entries("django_admin.deleted") == []
    # ...confirming deletes them all, each with its entry.
    response = global_admin_client.post(
        changelist, {**selection, "post": "yes"}, HTTP_X_REQUEST_ID="req-django-admin-1"
    )
    assert response.status_code == 302
    assert not WorkerHeartbeat.objects.exists()
    entries = audit_entries("django_admin.deleted")
    assert sorted(entry.target_id for entry in entries) == sorted(h.pk for h in heartbeats)
    for entry in entries:
        assert entry.actor == cast["global_admin"]
        assert entry.request_id == "req-django-admin-1"


def test_other_bulk_actions_are_audited(admin_on, cast, global_admin_client):
    address = EmailAddress.objects.create(
        user=cast["helpdesk_agent"], email=cast["helpdesk_agent"].email, verified=False
    )
    response = global_admin_client.post(
        f"{ADMIN}account/emailaddress/",
        {"action": "make_verified", "_selected_action": [address.pk]},
        HTTP_X_REQUEST_ID="req-django-admin-1",
    )
    assert response.status_code == 302
    address.refresh_from_db()
    assert address.verified
    (entry,) = audit_entries("django_admin.action_run")
    assert_audited(entry, cast["global_admin"], address)
    assert entry.after == {"action": "make_verified"}


def test_the_audit_log_is_read_only_in_it(admin_on, cast, global_admin_client):
    entry = AuditEntry.objects.create(actor=cast["global_admin"], action="x", target_type="t")
    changelist = f"{ADMIN}core/auditentry/"
    assert global_admin_client.get(changelist).status_code == 200
    assert global_admin_client.get(f"{changelist}{entry.pk}/change/").status_code == 200
    assert global_admin_client.get(f"{changelist}add/").status_code == 403
    assert (
        global_admin_client.post(f"{changelist}{entry.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    response = global_admin_client.post(
        changelist, {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"}
    )
    assert response.status_code in (200, 302)
    assert AuditEntry.objects.filter(pk=entry.pk).exists()


def test_roles_cannot_be_rewritten_in_it(admin_on, global_admin_client):
    # A role's permissions are the matrix in accounts.roles, not an admin form.
    assert global_admin_client.get(f"{ADMIN}auth/group/").status_code == 404


# --- the URL set depends on the setting -----------------------------------------------------


def test_the_access_matrix_holds_with_it_on(admin_on):
    names = {name for _route, name in project_url_names()}
    assert names <= set(URL_ACCESS)
    assert reverse("admin:index") == ADMIN


@pytest.mark.parametrize("enabled", ["true", "false"])
def test_system_checks_pass_on_and_off(enabled):
    assert_checks_pass({**os.environ, "DJANGO_ADMIN_ENABLED": enabled}, timeout=120)


def test_roles_cannot_be_changed_through_it(admin_on, cast, global_admin_client):
    # Roles change only on the Staff page (its rules and its staff.roles_changed entry); a Global
    # admin posting groups, even their own, changes nothing.
    me = cast["global_admin"]
    before = set(me.groups.values_list("name", flat=True))
    response = global_admin_client.post(
        f"{ADMIN}accounts/user/{me.pk}/change/",
        {
            "email": me.email,
            "full_name": me.full_name,
            "language": "",
            "is_active": "on",
            "is_superuser": "on",
            "groups": [group.pk for group in Group.objects.all()],
        },
    )
    assert response.status_code == 302, response.content[:500]
    me.refresh_from_db()
    assert set(me.groups.values_list("name", flat=True)) == before
    assert not me.is_superuser
    # Nor the groups themselves: their permissions are the role matrix (accounts.roles).
    assert f"{ADMIN}auth/group/" not in global_admin_client.get(ADMIN).content.decode()
