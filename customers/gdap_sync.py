"""Refresh delegated-admin (GDAP) relationships and their access assignments from Graph.

Everything is read first (all pages, every relationship's assignments); only then is anything
written, in one transaction. A failed read changes no data and is recorded on
``GdapSyncState`` for the UI. A re-sync that learns nothing new writes nothing.

GDAP reads are delegated: once the partner's Microsoft connection is ready, the sync reads as
the partner user (its App+User Graph token); until then with the app-only settings
(PARTNER_TENANT_ID, GRAPH_CLIENT_ID, GRAPH_CLIENT_SECRET).
"""

import logging
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction

from core import audit, broker
from core.outbound import graph_client
from customers import services
from customers.models import AccessAssignment, Customer, DelegatedAdminRelationship, GdapSyncState
from microsoft.clients import graph_as_partner
from microsoft.services import connection_ready
from outbound.graph import GraphConnection, GraphError, parse_datetime

logger = logging.getLogger(__name__)

RELATIONSHIPS_PATH = "/tenantRelationships/delegatedAdminRelationships"
LEASE = timedelta(minutes=10)
# The task that runs ``run`` (customers.tasks); queued by name: tasks imports this module.
SYNC_TASK = "customers.tasks.sync_gdap"


@dataclass
class SyncSummary:
    relationships_seen: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    assignments_changed: int = 0
    unknown_tenants: list = field(default_factory=list)
    malformed: int = 0

    def as_dict(self):
        return dict(self.__dict__)

    def lines(self):
        lines = [
            f"{self.relationships_seen} relationships read: {self.created} new, "
            f"{self.updated} changed, {self.unchanged} unchanged; "
            f"{self.assignments_changed} access assignments written."
        ]
        if self.unknown_tenants:
            lines.append(
                f"{len(self.unknown_tenants)} relationships are for tenants that are not "
                f"customers here: {', '.join(self.unknown_tenants[:10])}"
            )
        if self.malformed:
            lines.append(f"{self.malformed} records could not be read and were skipped.")
        return lines


class NotConfigured(Exception):
    pass


def partner_connection():
    if not (
        settings.PARTNER_TENANT_ID and settings.GRAPH_CLIENT_ID and settings.GRAPH_CLIENT_SECRET
    ):
        raise NotConfigured(
            "Set PARTNER_TENANT_ID, GRAPH_CLIENT_ID and GRAPH_CLIENT_SECRET to read GDAP "
            "relationships from Microsoft Graph."
        )
    try:
        return GraphConnection(
            base_url=settings.GRAPH_BASE_URL,
            token_url=settings.GRAPH_TOKEN_URL,
            tenant_id=settings.PARTNER_TENANT_ID,
            client_id=settings.GRAPH_CLIENT_ID,
            client_secret=settings.GRAPH_CLIENT_SECRET,
        )
    except GraphError as exc:
        raise NotConfigured(f"GRAPH_TOKEN_URL: {exc}") from None


def _roles(record):
    roles = (record.get("accessDetails") or {}).get("unifiedRoles") or []
    return sorted(
        {r["roleDefinitionId"] for r in roles if isinstance(r, dict) and r.get("roleDefinitionId")}
    )


def relationship_fields(record):
    """Our fields from a Graph ``delegatedAdminRelationship``; None if it cannot be read."""
    if (
        not isinstance(record, dict)
        or not record.get("id")
        or not isinstance(record.get("customer"), dict)
    ):
        return None
    return {
        "microsoft_id": str(record["id"])[:100],
        "display_name": str(record.get("displayName") or record["id"])[:50],
        # Unknown future statuses are kept as sent.
        "status": str(record.get("status") or "unknownFutureValue")[:40],
        "duration": str(record.get("duration") or "")[:20],
        "auto_extend_duration": str(record.get("autoExtendDuration") or "PT0S")[:20],
        "roles": _roles(record),
        "created_on": parse_datetime(record.get("createdDateTime")),
        "activated_on": parse_datetime(record.get("activatedDateTime")),
        "ends_on": parse_datetime(record.get("endDateTime")),
        "last_modified_on": parse_datetime(record.get("lastModifiedDateTime")),
    }


def assignment_fields(record):
    if not isinstance(record, dict) or not record.get("id"):
        return None
    container = record.get("accessContainer") or {}
    return {
        "microsoft_id": str(record["id"])[:100],
        "security_group_id": str(container.get("accessContainerId") or "")[:64],
        "roles": _roles(record),
        "status": str(record.get("status") or "unknownFutureValue")[:40],
        "created_on": parse_datetime(record.get("createdDateTime")),
        "last_modified_on": parse_datetime(record.get("lastModifiedDateTime")),
    }


def fetch(client):
    """Read every relationship and its assignments. Raises GraphError; writes nothing."""
    fetched = []
    for record in client.get_collection(RELATIONSHIPS_PATH):
        assignments = []
        if isinstance(record, dict) and record.get("id"):
            path = f"{RELATIONSHIPS_PATH}/{record['id']}/accessAssignments"
            assignments = list(client.get_collection(path))
        fetched.append((record, assignments))
    return fetched


@transaction.atomic
def apply(fetched):
    summary = SyncSummary(relationships_seen=len(fetched))
    tenant_ids = {
        str(record["customer"].get("tenantId", "")).lower()
        for record, _a in fetched
        if isinstance(record, dict) and isinstance(record.get("customer"), dict)
    }
    customers = {
        str(c.tenant_id): c for c in Customer.objects.filter(tenant_id__in=_uuids(tenant_ids))
    }
    existing = {
        r.microsoft_id: r
        for r in DelegatedAdminRelationship.objects.filter(
            microsoft_id__in=[
                str(record.get("id")) for record, _a in fetched if isinstance(record, dict)
            ]
        )
    }
    # One customer.updated per customer whose access summary this sync moves, however often.
    customer_changes = services.CustomerChanges()
    for record, assignment_records in fetched:
        fields = relationship_fields(record)
        if fields is None:
            summary.malformed += 1
            continue
        tenant_id = str(record["customer"].get("tenantId", "")).lower()
        customer = customers.get(tenant_id)
        if customer is None:
            summary.unknown_tenants.append(tenant_id or "?")
            continue
        relationship = existing.get(fields["microsoft_id"]) or DelegatedAdminRelationship(
            customer=customer
        )
        last_modified = fields.pop("last_modified_on")
        before = services.relationship_snapshot(relationship) if relationship.pk else None
        relationship = services.save_relationship(
            relationship, actor=None, customer_changes=customer_changes, **fields
        )
        if relationship.last_modified_on != last_modified:
            DelegatedAdminRelationship.objects.filter(pk=relationship.pk).update(
                last_modified_on=last_modified
            )
        after = services.relationship_snapshot(relationship)
        if before is None:
            summary.created += 1
        elif before != after:
            summary.updated += 1
        else:
            summary.unchanged += 1
        summary.assignments_changed += _apply_assignments(relationship, assignment_records, summary)
    customer_changes.record()
    return summary


def _uuids(values):
    result = []
    for value in values:
        try:
            result.append(uuid.UUID(value))
        except ValueError:
            continue
    return result


def _apply_assignments(relationship, records, summary):
    changed = 0
    current = {a.microsoft_id: a for a in relationship.access_assignments.all()}
    seen = set()
    for record in records:
        fields = assignment_fields(record)
        if fields is None:
            summary.malformed += 1
            continue
        seen.add(fields["microsoft_id"])
        assignment = current.get(fields["microsoft_id"])
        if assignment is None:
            assignment = AccessAssignment.objects.create(relationship=relationship, **fields)
            _audit_assignment("gdap.access_assignment_created", assignment, None, fields)
            changed += 1
            continue
        before = {key: getattr(assignment, key) for key in fields}
        if before != fields:
            for key, value in fields.items():
                setattr(assignment, key, value)
            assignment.save()
            _audit_assignment("gdap.access_assignment_updated", assignment, before, fields)
            changed += 1
    for microsoft_id, assignment in current.items():
        if microsoft_id not in seen:
            _audit_assignment(
                "gdap.access_assignment_removed", assignment, {"status": assignment.status}, None
            )
            assignment.delete()
            changed += 1
    return changed


def _audit_assignment(action, assignment, before, after):
    audit.record(actor=None, action=action, target=assignment, before=before, after=after)


def claim(now=None):
    return GdapSyncState.claim(LEASE, now)


def partner_client():
    """Graph as the partner user once the Microsoft connection is ready, else app-only."""
    if connection_ready():
        return graph_as_partner()
    return graph_client(partner_connection())


def run(client=None):
    """The sync, as the task and ``manage.py sync_gdap`` run it. Returns the SyncSummary, or
    None when another run holds the lease. Failures are recorded, then raised."""
    if not claim():
        logger.info("GDAP sync already running elsewhere; skipped")
        return None
    try:
        if client is None:
            client = partner_client()
        summary = apply(fetch(client))
    except NotConfigured as exc:
        _record(GdapSyncState.Outcome.NOT_CONFIGURED, error=str(exc), attention=True)
        raise
    except GraphError as exc:
        _record(GdapSyncState.Outcome.FAILED, error=str(exc), attention=exc.permanent)
        raise
    except Exception as exc:
        _record(GdapSyncState.Outcome.FAILED, error=f"Unexpected error: {type(exc).__name__}")
        raise
    _record(GdapSyncState.Outcome.SUCCEEDED, summary=summary)
    return summary


def _record(outcome, *, error="", attention=False, summary=None):
    GdapSyncState.finish(
        outcome, error=error, attention=attention, summary=summary.as_dict() if summary else None
    )


def queue():
    """Ask a worker to run the sync now; raises what the broker raises."""
    broker.send_task(SYNC_TASK)
