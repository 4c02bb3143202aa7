"""Audit actions have one naming convention, ``<object>.<verb>`` in the past tense: ``record``
refuses any other, every name written in the source follows it, and the entries written under
the old names are renamed by a data migration."""

import ast
import importlib
from pathlib import Path

import pytest
from django.db import connection
from django.db.migrations.loader import MigrationLoader

from core import audit
from core.models import AuditEntry
from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parents[2]
APPS = ["accounts", "core", "customers", "servicehealth", "incidents", "servicerequests"]
APPS += ["integrations", "dashboard"]
RENAMING = importlib.import_module("core.migrations.0005_audit_action_names")


@pytest.mark.parametrize(
    "action",
    ["webhook.created", "staff.roles_changed", "staff.mfa_reset", "django_admin.action_run"],
)
def test_names_in_the_convention_pass(action):
    assert audit.check_action(action) == action


@pytest.mark.parametrize(
    "action",
    ["webhook.create", "customer.psa_companies", "Webhook.Created", "webhook", "a.b.created", ""],
)
def test_record_refuses_any_other_name(db, action):
    user = UserFactory()
    with pytest.raises(ValueError, match="<object>.<verb"):
        audit.record(actor=user, action=action, target=user)
    with pytest.raises(ValueError, match="<object>.<verb"):
        audit.record_many(actor=user, action=action, entries=[(user, None, None)])
    assert not AuditEntry.objects.exists()


def _action_literals(tree):
    """String constants given as ``action=``, or as ``audit.record_change``'s second argument
    (or chosen between by ``a if c else b``)."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        given = [keyword.value for keyword in node.keywords if keyword.arg == "action"]
        if getattr(node.func, "attr", None) == "record_change" and len(node.args) > 1:
            given.append(node.args[1])
        for action in given:
            values = [action.body, action.orelse] if isinstance(action, ast.IfExp) else [action]
            for value in values:
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    yield value.value


def test_every_action_named_in_the_source_follows_the_convention():
    found = {}
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            for name in _action_literals(ast.parse(path.read_text())):
                found.setdefault(name, str(path.relative_to(ROOT)))
    assert len(found) > 30, "the scan should see the service functions' audit calls"
    wrong = {name: where for name, where in found.items() if not audit.ACTION_NAME.fullmatch(name)}
    assert wrong == {}


def test_the_data_migration_renames_old_entries_and_back(db):
    historical = MigrationLoader(connection).project_state(("core", "0005_audit_action_names"))
    entries = historical.apps.get_model("core", "AuditEntry").objects
    for old in RENAMING.RENAMED:
        entries.create(action=old, target_type="x", target_id="1")
    entries.create(action="customer.created", target_type="x", target_id="1")

    RENAMING.forwards(historical.apps, None)
    names = set(AuditEntry.objects.values_list("action", flat=True))
    assert names == {*RENAMING.RENAMED.values(), "customer.created"}
    assert all(audit.ACTION_NAME.fullmatch(name) for name in names)

    RENAMING.backwards(historical.apps, None)
    assert set(AuditEntry.objects.values_list("action", flat=True)) == {
        *RENAMING.RENAMED,
        "customer.created",
    }
