import pytest

from core import audit
from core.models import AppendOnlyError, AuditEntry


def test_audit_entries_cannot_be_changed_or_deleted(cast):
    entry = audit.record(actor=cast["global_admin"], action="staff.updated", target=cast["no_role"])
    entry.action = "rewritten"
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.all().update(action="rewritten")
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.all().delete()
    assert AuditEntry.objects.get().action == "staff.updated"
