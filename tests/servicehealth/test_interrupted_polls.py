"""A poll the database goes away from (R4, docs/reliability.md): it writes nothing, and once the
database is back the source shows that it failed.

The database "goes away" at the query layer (``connection.execute_wrapper``): from a chosen
statement on, every statement fails as psycopg fails when PostgreSQL has stopped. Transactional
tests: the poll's own transaction must really roll back, not a savepoint inside the test's.
tests/fault/test_database_outage.py does the same with a real connection cut.
"""

from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.db import OperationalError, connection
from django.urls import reverse
from django.utils import timezone

from core.models import Event
from incidents.models import AffectedCustomer, Incident, IncidentPost
from servicehealth import polling, tasks
from servicehealth.models import FeedSource, TenantServiceHealth
from tests.customers.factories import CustomerFactory
from tests.servicehealth.test_polling import exchange_incident, poll

pytestmark = pytest.mark.django_db(transaction=True)


@contextmanager
def database_goes_away(after=None, refusals=None):
    """Statements fail as if PostgreSQL had stopped: every one once a statement containing
    ``after`` has run, or the first ``refusals`` ones. Yields what happened."""
    seen = {"after": after is None, "refused": 0}

    def execute(execute, sql, params, many, context):
        if seen["after"] and (refusals is None or seen["refused"] < refusals):
            seen["refused"] += 1
            raise OperationalError("server closed the connection unexpectedly")
        result = execute(sql, params, many, context)
        if after is not None and after in sql:
            seen["after"] = True
        return result

    with connection.execute_wrapper(execute):
        yield seen


def held_lease(source, claimed_at):
    FeedSource.objects.filter(pk=source.pk).update(
        lease_until=claimed_at + polling.LEASE, last_polled_at=claimed_at
    )


def test_a_poll_the_database_drops_mid_write_writes_nothing_and_shows_as_failed(
    customer_feed, client_for
):
    simulator, customer, source = customer_feed
    exchange_incident(simulator, [customer.tenant_id])
    with (
        database_goes_away(after='INSERT INTO "incidents_incident"') as outage,
        pytest.raises(polling.PollInterrupted) as raised,
    ):
        poll(source)
    assert outage["refused"] > 0  # the incident was inserted, then the database went away
    assert not Incident.objects.exists()
    assert not IncidentPost.objects.exists()
    assert not AffectedCustomer.objects.exists()
    assert not TenantServiceHealth.objects.exists()
    assert not Event.objects.exists()
    source.refresh_from_db()
    assert source.issues_watermark is None and source.last_success_at is None
    # Nothing could be recorded yet: the lease stays, so no other worker polls it meanwhile.
    assert source.lease_until is not None and source.last_error == ""
    assert raised.value.claimed_at == source.last_polled_at

    # The database is back: the task the worker queued records the failure.
    result = tasks.record_interrupted_poll.apply((source.pk, raised.value.claimed_at.isoformat()))
    assert result.successful()
    source.refresh_from_db()
    assert source.last_error == polling.INTERRUPTED
    assert source.lease_until is None and source.consecutive_failures == 1
    assert Event.objects.filter(type="feed.failing").count() == 1
    page = client_for("global_admin").get(reverse("servicehealth:feed_list"))
    assert polling.INTERRUPTED in page.content.decode()

    # The next poll gives exactly the clean result.
    summary = poll(source)
    assert (summary.incidents_created, summary.posts_added, summary.customers_linked) == (1, 2, 1)
    assert Incident.objects.get().microsoft_id == "EX100001"
    assert TenantServiceHealth.objects.filter(source=source).exists()
    source.refresh_from_db()
    assert source.last_error == "" and source.consecutive_failures == 0
    assert source.issues_watermark == Incident.objects.get().last_modified_at


def test_the_worker_queues_the_record_of_an_interrupted_poll_with_a_short_countdown(
    customer_feed, monkeypatch
):
    simulator, customer, source = customer_feed
    exchange_incident(simulator, [customer.tenant_id])
    queued = []
    monkeypatch.setattr(
        tasks.record_interrupted_poll,
        "apply_async",
        lambda args, countdown: queued.append((args, countdown)),  # the broker, not the database
    )
    with database_goes_away(after='INSERT INTO "servicehealth_service"'):
        tasks.poll_source(source.pk)  # returns: the failure is in the queued task's hands
    source.refresh_from_db()
    assert queued == [((source.pk, source.last_polled_at.isoformat()), tasks.RECORD_RETRY_SECONDS)]
    assert 0 < tasks.RECORD_RETRY_SECONDS <= 60


def test_recording_an_interrupted_poll_retries_until_the_database_answers(
    service_health_simulator,
):
    _simulator, add_source = service_health_simulator
    source = add_source(CustomerFactory())
    claimed_at = timezone.now()
    held_lease(source, claimed_at)
    # Eager: each retry runs at once. The first two attempts find the database still away.
    with database_goes_away(refusals=2) as outage:
        result = tasks.record_interrupted_poll.apply((source.pk, claimed_at.isoformat()))
    assert outage["refused"] == 2
    assert result.successful()
    source.refresh_from_db()
    assert source.last_error == polling.INTERRUPTED and source.lease_until is None


def test_an_outcome_already_recorded_is_left_alone(service_health_simulator):
    _simulator, add_source = service_health_simulator
    source = add_source(CustomerFactory())
    claimed_at = timezone.now() - timedelta(minutes=1)
    held_lease(source, claimed_at)
    # A newer poll holds the lease now: the old poll's record is not this one's failure.
    held_lease(source, timezone.now())
    assert polling.record_interrupted(source.pk, claimed_at) is False
    # The poll's success committed after all (its commit's answer was what got lost).
    FeedSource.objects.filter(pk=source.pk).update(lease_until=None, last_polled_at=claimed_at)
    assert polling.record_interrupted(source.pk, claimed_at) is False
    source.refresh_from_db()
    assert source.last_error == "" and source.consecutive_failures == 0


def test_a_lease_that_ran_out_without_an_outcome_is_recorded_before_the_next_poll(
    service_health_simulator,
):
    _simulator, add_source = service_health_simulator
    source, running = add_source(CustomerFactory()), add_source(CustomerFactory())
    now = timezone.now()
    held_lease(source, now - polling.LEASE - timedelta(seconds=1))  # its worker died, say
    held_lease(running, now - timedelta(seconds=5))
    claimed = polling.claim(source.pk, now=now)
    assert claimed is not None and claimed.lease_until == now + polling.LEASE
    assert claimed.last_error == polling.INTERRUPTED and claimed.consecutive_failures == 1
    assert polling.claim(running.pk, now=now) is None  # a poll still in its lease is not touched
    running.refresh_from_db()
    assert running.last_error == "" and running.consecutive_failures == 0
    # Recorded once: the new lease is running.
    assert polling.record_interrupted(source.pk, now=now) is False
    assert FeedSource.objects.get(pk=source.pk).consecutive_failures == 1
