import csv
import io

import pytest
from django.urls import reverse

from accounts.roles import Role
from core import audit


def test_global_admins_browse_and_filter_the_audit_log(client_for, cast):
    audit.record(actor=cast["global_admin"], action="staff.invited", target=cast["no_role"])
    audit.record(
        actor=cast["user_management_admin"], action="staff.updated", target=cast["no_role"]
    )
    response = client_for("global_admin").get(
        reverse("dashboard:audit_log"), {"action": "staff.invited"}
    )
    assert response.status_code == 200
    assert [entry.action for entry in response.context["page"]] == ["staff.invited"]


def test_csv_export_holds_the_filtered_entries(client_for, cast):
    audit.record(
        actor=cast["global_admin"],
        action="staff.roles_changed",
        target=cast["helpdesk_agent"],
        before={"roles": ["helpdesk_agent"]},
        after={"roles": ["admin_agent"]},
    )
    audit.record(actor=cast["global_admin"], action="staff.invited", target=cast["no_role"])
    response = client_for("global_admin").get(
        reverse("dashboard:audit_log_export"), {"action": "staff.roles_changed"}
    )
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 1
    assert rows[0]["actor"] == "global-admin@partner.example"
    assert rows[0]["before"] == '{"roles": ["helpdesk_agent"]}'
    assert rows[0]["after"] == '{"roles": ["admin_agent"]}'


def test_csv_export_neutralises_formulas(client_for, cast):
    cast["no_role"].full_name = "=HYPERLINK(evil)"
    cast["no_role"].save()
    audit.record(actor=cast["global_admin"], action="staff.updated", target=cast["no_role"])
    response = client_for("global_admin").get(reverse("dashboard:audit_log_export"))
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0]["object"] == "'=HYPERLINK(evil)"


@pytest.mark.parametrize("principal", ["user_management_admin", "admin_agent", "helpdesk_agent"])
def test_only_global_admins_export(principal, client_for):
    assert client_for(principal).get(reverse("dashboard:audit_log_export")).status_code == 404


def test_role_changes_made_in_the_ui_reach_the_export(client_for, cast):
    target = cast["helpdesk_agent"]
    client_for("global_admin").post(
        reverse("accounts:staff_edit", args=[target.pk]),
        {"full_name": target.full_name, "roles": [Role.ADMIN_AGENT, Role.HELPDESK_AGENT]},
    )
    response = client_for("global_admin").get(reverse("dashboard:audit_log_export"))
    body = b"".join(response.streaming_content).decode()
    assert "staff.roles_changed" in body
    assert "helpdesk-agent@partner.example" in body


def test_the_audit_page_shows_what_changed(client_for, cast):
    audit.record(
        actor=cast["global_admin"],
        action="staff.roles_changed",
        target=cast["helpdesk_agent"],
        before={"roles": ["helpdesk_agent"], "email": "same@partner.example"},
        after={"roles": ["admin_agent", "helpdesk_agent"], "email": "same@partner.example"},
    )
    page = client_for("global_admin").get(reverse("dashboard:audit_log")).content.decode()
    assert "<del>helpdesk_agent</del>" in page
    assert "<ins>admin_agent, helpdesk_agent</ins>" in page
    assert "same@partner.example" not in page  # unchanged values are not repeated
