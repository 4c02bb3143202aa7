"""Many feed sources polled at once from one task (servicehealth.pool), and a poll that learns
nothing writing nothing, against the Graph simulator over real HTTP on loopback."""

import threading

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.models import Event
from incidents.models import AffectedCustomer, Incident, IncidentPost
from outbound.graph import GraphError
from servicehealth import feeds, pool, snapshots, tasks
from servicehealth.models import FeedSource, Service
from tests.customers.factories import CustomerFactory
from tests.servicehealth.test_polling import exchange_incident, poll

WRITES = ("INSERT", "UPDATE", "DELETE")


def writes(queries):
    return [q["sql"] for q in queries if q["sql"].startswith(WRITES)]


def sources_sharing_incidents(service_health_simulator, count, incidents=3):
    simulator, add_source = service_health_simulator
    customers = [CustomerFactory() for _ in range(count)]
    sources = [add_source(customer) for customer in customers]
    for n in range(incidents):
        exchange_incident(simulator, [c.tenant_id for c in customers], issue_id=f"EX60000{n}")
    return simulator, customers, sources


@pytest.mark.django_db(transaction=True)
def test_a_batch_is_polled_at_once_and_shared_incidents_are_stored_once(
    service_health_simulator,
):
    simulator, customers, sources = sources_sharing_incidents(service_health_simulator, 6)
    # Every answer waits until all six polls ask for one: polls made one after another would
    # break the barrier (and fail) instead of finishing.
    in_step = threading.Barrier(6, timeout=10)
    simulator.latency, simulator.latency_sleep = 1, lambda _seconds: in_step.wait()
    outcomes = pool.poll_many([s.pk for s in sources])
    assert [type(outcomes[s.pk]) for s in sources] == [snapshots.PollSummary] * 6
    assert not in_step.broken
    # The six polls wrote the shared incidents at the same moment: each is stored once.
    assert Incident.objects.count() == 3
    assert IncidentPost.objects.count() == 6
    assert AffectedCustomer.objects.count() == 18
    assert Event.objects.filter(type="incident.created").count() == 18
    assert sum(outcomes[s.pk].incidents_created for s in sources) >= 3
    assert not FeedSource.objects.filter(consecutive_failures__gt=0).exists()


@pytest.mark.django_db(transaction=True)
def test_a_failing_source_in_a_batch_is_recorded_alone(service_health_simulator):
    simulator, customers, sources = sources_sharing_incidents(service_health_simulator, 3)
    simulator.refuse_tenant(customers[0].tenant_id)
    tasks.poll_sources([s.pk for s in sources])
    refused, *healthy = (FeedSource.objects.get(pk=s.pk) for s in sources)
    assert refused.needs_attention and refused.consecutive_failures == 1
    assert refused.last_error and refused.lease_until is None
    assert Event.objects.filter(type="feed.failing").count() == 1
    assert all(s.last_success_at and not s.last_error for s in healthy)
    assert AffectedCustomer.objects.count() == 6
    outcome = pool.poll_many([sources[0].pk])[sources[0].pk]
    assert isinstance(outcome, GraphError)  # the same refusal, as an outcome, not a crash


def test_a_snapshot_that_learns_nothing_is_applied_without_a_write(service_health_simulator):
    _simulator, _customers, sources = sources_sharing_incidents(service_health_simulator, 1)
    poll(sources[0])
    source = FeedSource.objects.select_related("customer").get(pk=sources[0].pk)
    snapshot = feeds.fetch(feeds.client_for(source))  # a full listing: every issue again
    with CaptureQueriesContext(connection) as queries:
        changes = snapshots.compare(source, snapshot)
        assert not changes.writes_data
        summary = snapshots.write(changes)
    # The tenant's health and the incidents, read; nothing written, no transaction.
    assert len(queries) == 2 and writes(queries) == []
    assert (summary.incidents_unchanged, summary.posts_added, summary.events) == (3, 0, 0)


def test_a_re_poll_that_learns_nothing_writes_only_the_sources_own_state(
    service_health_simulator,
):
    _simulator, _customers, sources = sources_sharing_incidents(service_health_simulator, 1)
    poll(sources[0])
    with CaptureQueriesContext(connection) as queries:
        summary = poll(sources[0])
    # The lease taken and the outcome recorded, on the source's row; nothing else.
    assert [sql.split(" SET ")[0] for sql in writes(queries)] == [
        'UPDATE "servicehealth_feedsource"'
    ] * 2
    assert summary.incidents_unchanged == 3 and not summary.full_listing
    # The test's own read of the source (1), the claim (1: the lease taken and the source
    # read) and the outcome (1): the snapshot has the digest of the one the first poll
    # applied, so nothing is compared; no transaction (BEGIN, SAVEPOINT, COMMIT).
    statements = [q["sql"].split(" ")[0] for q in queries]
    assert statements == ["SELECT", "UPDATE", "UPDATE"]
    assert "RETURNING" in queries[1]["sql"]


def test_a_re_poll_without_the_last_digest_compares_and_writes_only_the_outcome(
    service_health_simulator,
):
    _simulator, _customers, sources = sources_sharing_incidents(service_health_simulator, 1)
    poll(sources[0])
    digest = FeedSource.objects.get(pk=sources[0].pk).snapshot_digest
    FeedSource.objects.filter(pk=sources[0].pk).update(snapshot_digest="")
    with CaptureQueriesContext(connection) as queries:
        summary = poll(sources[0])
    assert summary.incidents_unchanged == 3
    # The test's own read, the claim, the tenant's health with its services, the incidents
    # read again with their post counts and links, and the outcome with the digest again.
    statements = [q["sql"].split(" ")[0] for q in queries]
    assert statements == ["SELECT", "UPDATE", "SELECT", "SELECT", "UPDATE"]
    assert FeedSource.objects.get(pk=sources[0].pk).snapshot_digest == digest


def test_a_change_to_the_services_alone_is_written_with_the_outcome(service_health_simulator):
    simulator, customers, sources = sources_sharing_incidents(service_health_simulator, 1)
    poll(sources[0])
    simulator.add_service("SharePoint", "SharePoint Online (renamed)")  # no incident there
    with CaptureQueriesContext(connection) as queries:
        summary = poll(sources[0])
    assert summary.incidents_unchanged == 3 and summary.services
    assert Service.objects.get(graph_id="SharePoint").name == "SharePoint Online (renamed)"
    # The rename and the outcome, in one transaction (a savepoint inside the test's).
    statements = [q["sql"].split(" ")[:2] for q in queries]
    renamed = statements.index(["UPDATE", '"servicehealth_service"'])
    outcome = statements.index(["UPDATE", '"servicehealth_feedsource"'], renamed)
    opened = [n for n, words in enumerate(statements) if words[0] == "SAVEPOINT"]
    closed = [n for n, words in enumerate(statements) if words[0] == "RELEASE"]
    assert len(opened) == len(closed) == 1
    assert opened[0] < renamed < outcome < closed[0]
