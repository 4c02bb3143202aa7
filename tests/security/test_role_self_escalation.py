"""Nobody changes their own roles; role changes are shown to Global admins.

A User management admin could tick Admin agent on their own staff page and so give themselves
customer management. Every role change needs a second person now, and Global admins see the
latest ones on the Staff page.
"""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from accounts import services
from accounts.roles import Role
from core.models import AuditEntry


def edit(client, member, roles, full_name=None):
    return client.post(
        reverse("accounts:staff_edit", args=[member.pk]),
        {"full_name": full_name or member.full_name, "roles": roles},
    )


def test_a_user_management_admin_cannot_give_themselves_another_role(client_for, cast):
    uma = cast["user_management_admin"]
    response = edit(
        client_for("user_management_admin"),
        uma,
        [Role.USER_MANAGEMENT_ADMIN, Role.ADMIN_AGENT],
    )
    assert response.status_code == 200
    assert "own roles" in str(response.context["form"].errors)
    uma.refresh_from_db()
    assert uma.roles == [Role.USER_MANAGEMENT_ADMIN]
    assert not AuditEntry.objects.filter(action="staff.roles_changed").exists()


def test_a_global_admin_cannot_change_their_own_roles_either(client_for, cast):
    admin = cast["global_admin"]
    response = edit(client_for("global_admin"), admin, [Role.GLOBAL_ADMIN, Role.HELPDESK_AGENT])
    assert response.status_code == 200
    assert "own roles" in str(response.context["form"].errors)
    admin.refresh_from_db()
    assert admin.roles == [Role.GLOBAL_ADMIN]


@pytest.mark.parametrize("principal", ["global_admin", "user_management_admin"])
def test_the_service_refuses_a_change_to_ones_own_roles(principal, cast, rf):
    actor = cast[principal]
    request = rf.post("/")
    request.user = actor
    with pytest.raises(ValidationError, match="own roles"):
        services.update_staff(
            request, actor, full_name=actor.full_name, roles=[*actor.roles, Role.ADMIN_AGENT]
        )
    actor.refresh_from_db()
    assert Role.ADMIN_AGENT not in actor.roles


def test_ones_own_roles_are_shown_read_only_and_the_name_can_still_be_changed(client_for, cast):
    uma = cast["user_management_admin"]
    signed_in = client_for("user_management_admin")
    page = signed_in.get(reverse("accounts:staff_edit", args=[uma.pk]))
    assert page.context["form"].fields["roles"].disabled
    assert b'name="roles" value="user_management_admin"' in page.content
    # A browser does not send disabled checkboxes: the roles stay, the new name is saved.
    response = signed_in.post(
        reverse("accounts:staff_edit", args=[uma.pk]), {"full_name": "Renamed Admin"}
    )
    assert response.status_code == 302
    uma.refresh_from_db()
    assert uma.full_name == "Renamed Admin"
    assert uma.roles == [Role.USER_MANAGEMENT_ADMIN]


def test_global_admins_see_recent_role_changes_on_the_staff_page(client_for, cast):
    target = cast["helpdesk_agent"]
    edit(client_for("user_management_admin"), target, [Role.ADMIN_AGENT])

    response = client_for("global_admin").get(reverse("accounts:staff_list"))
    changes = response.context["role_changes"]
    assert len(changes) == 1
    change = changes[0]
    assert change["actor"] == "user-management-admin@partner.example"
    assert change["member"] == str(target)
    assert change["added"] == ["Admin agent"]
    assert change["removed"] == ["Helpdesk agent"]
    html = response.content.decode()
    assert 'data-testid="recent-role-changes"' in html
    assert "user-management-admin@partner.example" in html


def test_user_management_admins_do_not_see_the_role_changes(client_for, cast):
    edit(client_for("user_management_admin"), cast["helpdesk_agent"], [Role.ADMIN_AGENT])
    response = client_for("user_management_admin").get(reverse("accounts:staff_list"))
    assert response.status_code == 200
    assert response.context["role_changes"] is None
    assert b"recent-role-changes" not in response.content
