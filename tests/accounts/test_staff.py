import re

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import User
from accounts.roles import Capability, Role
from core.models import AuditEntry
from tests.factories import UserFactory


@pytest.fixture
def invite(django_capture_on_commit_callbacks):
    """POST the invitation form; the email leaves on commit, so run the on-commit callbacks."""

    def post(client, **data):
        form = {"email": "new.agent@partner.example", "full_name": "New Agent", "language": "en"}
        form.update(data)
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(reverse("accounts:staff_invite"), form)

    return post


@pytest.mark.parametrize("inviter", ["global_admin", "user_management_admin"])
def test_it_invites_staff_with_roles_and_sends_a_link(
    invite, inviter, client_for, cast, mailoutbox
):
    response = invite(client_for(inviter), roles=[Role.HELPDESK_AGENT, Role.ADMIN_AGENT])
    assert response.status_code == 302
    user = User.objects.get(email="new.agent@partner.example")
    assert set(user.roles) == {Role.HELPDESK_AGENT, Role.ADMIN_AGENT}
    assert not user.has_usable_password()
    assert user.is_invited
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["new.agent@partner.example"]
    assert "/invitation/" in mailoutbox[0].body
    entry = AuditEntry.objects.get(action="staff.invited")
    assert entry.actor == cast[inviter]
    assert entry.after["roles"] == ["admin_agent", "helpdesk_agent"]
    assert entry.target_id == str(user.pk)
    assert entry.ip_address == "127.0.0.1"
    assert entry.request_id


def test_the_invited_person_sets_a_password_and_signs_in(invite, client_for, mailoutbox):
    invite(client_for("global_admin"), roles=[Role.HELPDESK_AGENT])
    link = re.search(r"https?://[^/]+(/invitation/\S+/)", mailoutbox[0].body).group(1)
    anonymous = Client()
    assert anonymous.get(link).status_code == 200
    response = anonymous.post(
        link, {"new_password1": "a-long-new-passphrase", "new_password2": "a-long-new-passphrase"}
    )
    assert response.status_code == 302
    assert AuditEntry.objects.filter(action="staff.invitation_accepted").count() == 1
    # The link works once: the password hash is part of the token.
    assert anonymous.get(link).status_code == 400
    response = anonymous.post(
        reverse("account_login"),
        {"login": "new.agent@partner.example", "password": "a-long-new-passphrase"},
    )
    assert response.status_code == 302
    assert anonymous.get(reverse("dashboard:index")).status_code == 200


def test_it_refuses_a_weak_password_on_the_invitation(invite, client_for, mailoutbox):
    invite(client_for("global_admin"), roles=[Role.HELPDESK_AGENT])
    link = re.search(r"https?://[^/]+(/invitation/\S+/)", mailoutbox[0].body).group(1)
    response = Client().post(link, {"new_password1": "1234567", "new_password2": "1234567"})
    assert response.status_code == 200
    assert response.context["form"].errors["new_password2"]
    assert not User.objects.get(email="new.agent@partner.example").has_usable_password()


def test_it_reports_a_duplicate_email_on_the_field(invite, client_for, cast, mailoutbox):
    response = invite(client_for("global_admin"), email="HELPDESK-AGENT@partner.example")
    assert response.status_code == 200
    assert "email" in response.context["form"].errors
    assert mailoutbox == []


def test_a_user_management_admin_cannot_grant_global_admin(invite, client_for, mailoutbox):
    response = invite(client_for("user_management_admin"), roles=[Role.GLOBAL_ADMIN])
    assert response.status_code == 200
    assert "roles" in response.context["form"].errors
    assert not User.objects.filter(email="new.agent@partner.example").exists()


def test_a_user_management_admin_cannot_edit_a_global_admin(client_for, cast):
    target = cast["global_admin"]
    response = client_for("user_management_admin").post(
        reverse("accounts:staff_edit", args=[target.pk]),
        {"full_name": "Renamed", "roles": [Role.HELPDESK_AGENT]},
    )
    assert response.status_code == 200
    target.refresh_from_db()
    assert target.roles == [Role.GLOBAL_ADMIN]
    assert target.full_name != "Renamed"


def test_changing_roles_is_audited_with_before_and_after(client_for, cast):
    target = cast["helpdesk_agent"]
    response = client_for("user_management_admin").post(
        reverse("accounts:staff_edit", args=[target.pk]),
        {"full_name": target.full_name, "roles": [Role.ADMIN_AGENT]},
    )
    assert response.status_code == 302
    target.refresh_from_db()
    assert target.roles == [Role.ADMIN_AGENT]
    assert target.has_capability(Capability.MANAGE_CUSTOMERS)
    entry = AuditEntry.objects.get(action="staff.roles_changed")
    assert entry.before["roles"] == ["helpdesk_agent"]
    assert entry.after["roles"] == ["admin_agent"]
    assert entry.actor == cast["user_management_admin"]


def test_deactivating_signs_the_person_out_at_once(client_for, cast):
    victim_client = client_for("helpdesk_agent")
    assert victim_client.get(reverse("dashboard:index")).status_code == 200
    response = client_for("user_management_admin").post(
        reverse("accounts:staff_deactivate", args=[cast["helpdesk_agent"].pk])
    )
    assert response.status_code == 302
    cast["helpdesk_agent"].refresh_from_db()
    assert cast["helpdesk_agent"].is_active is False
    response = victim_client.get(reverse("dashboard:index"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
    assert AuditEntry.objects.filter(action="staff.deactivated").count() == 1


def test_removing_a_role_takes_effect_on_the_next_request(client_for, cast):
    agent_client = client_for("helpdesk_agent")
    assert agent_client.get(reverse("api-v1:me")).json()["roles"] == ["helpdesk_agent"]
    cast["helpdesk_agent"].groups.clear()
    assert agent_client.get(reverse("dashboard:index")).status_code == 302
    assert agent_client.get(reverse("api-v1:me")).json()["capabilities"] == []


def test_nobody_deactivates_themselves(client_for, cast):
    admin = cast["user_management_admin"]
    client_for("user_management_admin").post(reverse("accounts:staff_deactivate", args=[admin.pk]))
    admin.refresh_from_db()
    assert admin.is_active


def test_the_last_global_admin_stays(client_for, cast):
    second = UserFactory(roles=[Role.GLOBAL_ADMIN])
    signed_in = Client()
    signed_in.force_login(second)
    signed_in.post(reverse("accounts:staff_deactivate", args=[cast["global_admin"].pk]))
    cast["global_admin"].refresh_from_db()
    assert not cast["global_admin"].is_active
    # Now `second` is the only active Global admin. They cannot demote themselves (nobody
    # changes their own roles), and an operator (a superuser) cannot demote them either.
    response = signed_in.post(
        reverse("accounts:staff_edit", args=[second.pk]),
        {"full_name": second.full_name, "roles": [Role.USER_MANAGEMENT_ADMIN]},
    )
    assert response.status_code == 200
    assert "own roles" in str(response.context["form"].errors)
    operator = Client()
    operator.force_login(UserFactory(is_superuser=True))
    response = operator.post(
        reverse("accounts:staff_edit", args=[second.pk]),
        {"full_name": second.full_name, "roles": [Role.USER_MANAGEMENT_ADMIN]},
    )
    assert response.status_code == 200
    assert "last active Global admin" in str(response.context["form"].errors)
    second.refresh_from_db()
    assert Role.GLOBAL_ADMIN in second.roles


def test_staff_list_filters_and_excludes_api_clients(client_for, cast, api_token_for):
    api_token_for(Role.HELPDESK_AGENT)
    response = client_for("global_admin").get(
        reverse("accounts:staff_list"), {"role": Role.HELPDESK_AGENT}
    )
    emails = [member.email for member in response.context["page"]]
    assert emails == ["helpdesk-agent@partner.example"]
    response = client_for("global_admin").get(reverse("accounts:staff_list"))
    assert not any(member.is_api_client for member in response.context["page"])


def test_staff_list_queries_do_not_grow_with_rows(client_for, cast, django_assert_max_num_queries):
    signed_in = client_for("global_admin")
    signed_in.get(reverse("accounts:staff_list"))  # the session's first request records it
    with CaptureQueriesContext(connection) as few:
        signed_in.get(reverse("accounts:staff_list"))
    for _ in range(30):
        UserFactory(roles=[Role.HELPDESK_AGENT, Role.ADMIN_AGENT])
    with django_assert_max_num_queries(len(few)):
        response = signed_in.get(reverse("accounts:staff_list"))
    assert len(response.context["page"].object_list) == 36
    assert len(few) <= 15


def test_sync_roles_restores_the_matrix(db):
    from django.core.management import call_command

    helpdesk = Group.objects.get(name=Role.HELPDESK_AGENT)
    helpdesk.permissions.clear()
    call_command("sync_roles")
    codenames = set(helpdesk.permissions.values_list("codename", flat=True))
    assert codenames == {"view_support", "work_support"}
