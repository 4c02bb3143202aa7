"""GDAP sync from the Graph simulator over real HTTP: upserts, no-op re-syncs, faults."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext

from core.models import AuditEntry
from core.outbound import graph_client
from customers import gdap_sync
from customers.models import AccessAssignment, DelegatedAdminRelationship, GdapSyncState
from outbound.graph import GraphError
from simulators.graph import assignment_json, relationship_json
from tests.customers.factories import CustomerFactory
from tests.helpers import worker_in_thread
from tests.waiting import wait_until

SERVICE_SUPPORT = "f023fd81-a637-4b56-95fd-791ac0226033"
GLOBAL_ADMIN = "62e90394-69f5-4237-9190-012177145e10"


def client(connection):
    return graph_client(connection, sleep=lambda seconds: None)


def point_settings_at(settings, connection):
    """The portal's own Graph settings (those the command and the beat task read) set to
    ``connection``'s simulator."""
    settings.PARTNER_TENANT_ID = connection.tenant_id
    settings.GRAPH_CLIENT_ID = connection.client_id
    settings.GRAPH_CLIENT_SECRET = connection.client_secret
    settings.GRAPH_BASE_URL = connection.base_url
    settings.GRAPH_TOKEN_URL = connection.token_url


def add(simulator, customer, n, status="active", ends_in_days=200, roles=(SERVICE_SUPPORT,)):
    now = datetime.now(UTC)
    relationship_id = f"{n:08d}-0000-0000-0000-000000000000-{customer.tenant_id}"
    simulator.partner.relationships.append(
        relationship_json(
            relationship_id=relationship_id,
            display_name=f"Support {n}",
            customer_name=customer.company_name,
            customer_tenant_id=customer.tenant_id,
            status=status,
            roles=list(roles),
            auto_extend="P180D",
            created=now - timedelta(days=30),
            activated=now - timedelta(days=29) if status == "active" else None,
            ends=now + timedelta(days=ends_in_days) if status == "active" else None,
        )
    )
    simulator.partner.assignments[relationship_id] = [
        assignment_json(
            assignment_id=f"assignment-{n}",
            group_id="9e9e9e9e-0000-0000-0000-000000000001",
            roles=[SERVICE_SUPPORT],
            created=now - timedelta(days=29),
        )
    ]
    return relationship_id


def test_a_sync_creates_relationships_and_assignments(db, graph_simulator):
    simulator, connection = graph_simulator
    customer = CustomerFactory()
    ms_id = add(simulator, customer, 1, ends_in_days=5, roles=(SERVICE_SUPPORT, GLOBAL_ADMIN))
    add(simulator, customer, 2, status="approvalPending")
    summary = gdap_sync.run(client(connection))
    assert (summary.created, summary.updated, summary.unchanged) == (2, 0, 0)
    relationship = DelegatedAdminRelationship.objects.get(microsoft_id=ms_id)
    assert relationship.customer == customer
    assert relationship.roles == sorted([SERVICE_SUPPORT, GLOBAL_ADMIN])
    assert relationship.includes_global_administrator and not relationship.can_auto_extend
    assert relationship.expiry_flag == 7
    assert AccessAssignment.objects.get(relationship=relationship).security_group_id.startswith(
        "9e9e"
    )
    customer.refresh_from_db()
    assert customer.gdap_state() == "expiring"
    state = GdapSyncState.get()
    assert state.last_outcome == "succeeded"
    assert state.last_summary["created"] == 2


def test_a_re_sync_that_learns_nothing_writes_nothing(db, graph_simulator):
    simulator, connection = graph_simulator
    customer = CustomerFactory()
    for n in range(4):
        add(simulator, customer, n)
    gdap_sync.run(client(connection))
    modified = customer.__class__.objects.get(pk=customer.pk).modified_at
    audit_count = AuditEntry.objects.count()
    with CaptureQueriesContext(db_connection) as queries:
        summary = gdap_sync.run(client(connection))
    assert summary.unchanged == 4
    writes = [q["sql"] for q in queries if q["sql"].startswith(("INSERT", "DELETE"))]
    writes += [
        q["sql"]
        for q in queries
        if q["sql"].startswith("UPDATE") and "customers_gdapsyncstate" not in q["sql"]
    ]
    assert writes == []
    assert AuditEntry.objects.count() == audit_count
    assert customer.__class__.objects.get(pk=customer.pk).modified_at == modified


def test_status_changes_in_graph_reach_the_customer(db, graph_simulator):
    simulator, connection = graph_simulator
    customer = CustomerFactory()
    add(simulator, customer, 1)
    gdap_sync.run(client(connection))
    simulator.partner.relationships[0]["status"] = "terminated"
    simulator.partner.assignments[simulator.partner.relationships[0]["id"]] = []
    summary = gdap_sync.run(client(connection))
    assert summary.updated == 1
    assert summary.assignments_changed == 1
    customer.refresh_from_db()
    assert customer.gdap_state() == "expired"
    assert AuditEntry.objects.filter(action="gdap.relationship_updated").count() == 1


def test_unknown_statuses_are_kept_and_unknown_tenants_reported(db, graph_simulator):
    simulator, connection = graph_simulator
    customer = CustomerFactory()
    add(simulator, customer, 1, status="suspendedByMicrosoft")
    stranger = CustomerFactory.build()
    add(simulator, stranger, 2)
    summary = gdap_sync.run(client(connection))
    assert DelegatedAdminRelationship.objects.get().status == "suspendedByMicrosoft"
    assert summary.unknown_tenants == [str(stranger.tenant_id)]


@pytest.mark.parametrize(
    ("path", "status", "body"),
    [
        ("/v1.0/", 500, None),
        ("/v1.0/tenantRelationships/delegatedAdminRelationships/", 200, b'{"value": [{"id": '),
        ("/v1.0/", 200, b"<html>maintenance</html>"),
    ],
)
def test_a_failed_read_changes_no_data_and_is_recorded(path, status, body, db, graph_simulator):
    simulator, connection = graph_simulator
    customer = CustomerFactory()
    for n in range(5):  # three pages
        add(simulator, customer, n)
    # The failure hits a later request (page 2, or an assignments call): nothing is written.
    simulator.fail_next(path, status, body=body, times=4)
    with pytest.raises(GraphError):
        gdap_sync.run(graph_client(connection, sleep=lambda s: None, max_attempts=2))
    assert not DelegatedAdminRelationship.objects.exists()
    state = GdapSyncState.get()
    assert state.last_outcome == "failed"
    assert state.last_error
    assert state.consecutive_failures == 1
    assert state.lease_until is None


def test_a_refusal_needs_an_admin(db, graph_simulator):
    simulator, connection = graph_simulator
    simulator.fail_next("/v1.0/", 403, times=2)
    with pytest.raises(GraphError):
        gdap_sync.run(client(connection))
    state = GdapSyncState.get()
    assert state.needs_attention is True
    assert "consent" in state.last_error


def test_a_second_run_while_one_holds_the_lease_is_skipped(db, graph_simulator):
    _simulator, connection = graph_simulator
    assert gdap_sync.claim() is True
    assert gdap_sync.run(client(connection)) is None


def test_not_configured_is_shown_not_crashed(db, settings):
    settings.GRAPH_CLIENT_SECRET = ""
    with pytest.raises(gdap_sync.NotConfigured):
        gdap_sync.run()
    assert GdapSyncState.get().last_outcome == "not_configured"


def test_the_command_prints_what_changed(db, graph_simulator, settings, capsys):
    simulator, connection = graph_simulator
    point_settings_at(settings, connection)
    add(simulator, CustomerFactory(), 1)
    call_command("sync_gdap")
    assert "1 relationships read: 1 new" in capsys.readouterr().out


@pytest.mark.django_db(transaction=True)
def test_the_beat_task_syncs_through_a_real_worker(graph_simulator, settings, redis_url):
    from customers.tasks import sync_gdap

    simulator, connection = graph_simulator
    point_settings_at(settings, connection)
    customer = CustomerFactory()
    add(simulator, customer, 1)
    with worker_in_thread("feeds"):
        sync_gdap.delay()
        wait_until(
            DelegatedAdminRelationship.objects.exists,
            timeout=20,
            interval=0.2,
            message="the worker synced no relationship",
        )
    assert DelegatedAdminRelationship.objects.get().customer == customer
    assert GdapSyncState.get().last_outcome == "succeeded"


def test_assignment_changes_are_audited(db, graph_simulator):
    simulator, connection = graph_simulator
    relationship_id = add(simulator, CustomerFactory(), 1)
    gdap_sync.run(client(connection))
    simulator.partner.assignments[relationship_id] = []
    gdap_sync.run(client(connection))
    actions = list(
        AuditEntry.objects.filter(action__startswith="gdap.access_assignment").values_list(
            "action", flat=True
        )
    )
    assert sorted(actions) == ["gdap.access_assignment_created", "gdap.access_assignment_removed"]
