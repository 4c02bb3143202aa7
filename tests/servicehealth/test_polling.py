"""Polling feed sources against the bundled Graph simulator over real HTTP on loopback."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from core.models import Event
from incidents.models import AffectedCustomer, Incident, IncidentPost
from outbound.graph import GraphError
from servicehealth import feeds, polling
from servicehealth.models import FeedSource, TenantServiceHealth, TenantServiceHealthChange
from simulators.http import SimulatorServer
from tests.customers.factories import CustomerFactory
from tests.helpers import data_writes, query_count, worker_in_thread
from tests.waiting import wait_until

T0 = datetime.now(UTC) - timedelta(hours=2)


def exchange_incident(simulator, tenants, issue_id="EX100001", resolve_at=None, posts=2):
    steps = [
        (T0 + timedelta(minutes=10 * n), "serviceDegradation", f"Update {n}") for n in range(posts)
    ]
    if resolve_at is not None:
        steps.append((resolve_at, "serviceRestored", "Fixed.", "regular", True))
    simulator.add_issue(
        issue_id,
        service_id="Exchange",
        title="Users can't send email",
        impact_description="Users may be unable to send email.",
        steps=steps,
        tenant_ids=[str(t) for t in tenants],
        feature="Sending mail",
        feature_group="E-Mail",
    )


def poll(source, **client_kwargs):
    client_kwargs.setdefault("sleep", lambda seconds: None)
    return polling.poll(
        source.pk, client=feeds.client_for(FeedSource.objects.get(pk=source.pk), **client_kwargs)
    )


# The source's own poll state, which every poll writes.
POLL_STATE = "servicehealth_feedsource"


def test_a_first_poll_writes_services_health_incidents_posts_links_and_events(customer_feed):
    simulator, customer, source = customer_feed
    exchange_incident(simulator, [customer.tenant_id])
    summary = poll(source)
    incident = Incident.objects.get(microsoft_id="EX100001")
    assert incident.status == "serviceDegradation"
    assert incident.service == "Exchange Online"
    assert incident.feature_group == "E-Mail"
    assert not incident.is_resolved
    assert incident.posts.count() == 2
    assert AffectedCustomer.objects.get().customer == customer
    health = TenantServiceHealth.objects.get(source=source, service__graph_id="Exchange")
    assert health.status == "serviceDegradation"
    event = Event.objects.get(type="incident.created")
    assert event.consolidation_key == f"incident:EX100001:{customer.tenant_id}"
    assert event.tenant_id == customer.tenant_id
    assert (summary.incidents_created, summary.posts_added, summary.customers_linked) == (1, 2, 1)
    source.refresh_from_db()
    assert source.last_success_at and source.consecutive_failures == 0
    assert source.issues_watermark == incident.last_modified_at


def test_a_re_poll_that_learns_nothing_writes_nothing(customer_feed):
    simulator, customer, source = customer_feed
    exchange_incident(simulator, [customer.tenant_id])
    poll(source)
    with CaptureQueriesContext(connection) as queries:
        summary = poll(source)
    assert data_writes(queries, POLL_STATE) == []
    # The issue modified at the watermark is read again (the overlap) and compared: unchanged.
    assert summary.incidents_unchanged == 1
    assert Event.objects.count() == 1
    # Incremental: the second poll asked only for issues modified since shortly before the
    # watermark, and the overviews without their issues.
    issue_queries = [r[2] for r in simulator.requests if r[1].endswith("/issues")]
    assert "$filter" not in issue_queries[0]
    source.refresh_from_db()
    since = (source.issues_watermark - feeds.REREAD_OVERLAP).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert issue_queries[-1]["$filter"] == [f"lastModifiedDateTime gt {since}"]
    overview_queries = [r[2] for r in simulator.requests if r[1].endswith("/healthOverviews")]
    assert overview_queries and all("$expand" not in query for query in overview_queries)


def test_progress_over_time_updates_in_place_and_tells_every_affected_customer(customer_feeds):
    simulator, [(first, source_a), (second, source_b)] = customer_feeds(2)
    exchange_incident(
        simulator,
        [first.tenant_id, second.tenant_id],
        resolve_at=datetime.now(UTC) + timedelta(minutes=5),
    )
    poll(source_a)
    poll(source_b)
    # One Microsoft incident, stored once, linked to both customers.
    assert Incident.objects.count() == 1
    assert AffectedCustomer.objects.count() == 2
    simulator.advance(600)
    summary = poll(source_a)
    incident = Incident.objects.get()
    assert incident.is_resolved and incident.status == "serviceRestored"
    assert incident.posts.count() == 3
    assert summary.incidents_updated == 1
    resolved = Event.objects.filter(type="incident.resolved")
    assert sorted(str(e.tenant_id) for e in resolved) == sorted(
        [str(first.tenant_id), str(second.tenant_id)]
    )
    # The other tenant's feed now repeats what we know: nothing new.
    summary = poll(source_b)
    assert summary.incidents_unchanged == 1 and summary.posts_added == 0
    assert IncidentPost.objects.count() == 3
    assert TenantServiceHealthChange.objects.filter(
        source=source_a, status="serviceOperational"
    ).exists()


def test_the_filter_falls_back_to_a_full_listing_when_refused(customer_feed):
    simulator, customer, source = customer_feed
    exchange_incident(simulator, [customer.tenant_id])
    poll(source)
    simulator.fail_next("/v1.0/admin/serviceAnnouncement/issues", 400)
    summary = poll(source)
    assert summary.full_listing is True
    assert summary.incidents_unchanged == 1


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 500, "times": 4},
        {"status": 200, "truncate_to": 120},
        {
            "status": 200,
            "body": b"<html>Service Unavailable</html>",
            "headers": {"Content-Type": "text/html"},
        },
    ],
)
def test_a_poll_that_fails_half_way_writes_nothing_and_is_shown(fault, service_health_simulator):
    simulator, add_source = service_health_simulator
    customer = CustomerFactory()
    source = add_source(customer)
    for n in range(12):  # three pages of issues
        exchange_incident(simulator, [customer.tenant_id], issue_id=f"EX2000{n:02d}")
    path = "/v1.0/admin/serviceAnnouncement/issues"
    simulator.fail_next(path, **fault) if "times" not in fault else simulator.fail_next(
        path, fault["status"], times=fault["times"]
    )
    with pytest.raises(GraphError):
        poll(source, max_attempts=4)
    assert not Incident.objects.exists()
    assert not TenantServiceHealth.objects.exists()
    source.refresh_from_db()
    assert source.consecutive_failures == 1
    assert source.last_error
    assert source.issues_watermark is None
    assert source.lease_until is None
    assert source.next_poll_at > timezone.now()
    assert Event.objects.filter(type="feed.failing").count() == 1
    # After the fault clears, the next poll gives exactly the clean result.
    FeedSource.objects.filter(pk=source.pk).update(next_poll_at=timezone.now())
    summary = poll(source)
    assert summary.incidents_created == 12
    source.refresh_from_db()
    assert source.consecutive_failures == 0 and not source.last_error


def test_throttling_honours_retry_after(service_health_simulator):
    simulator, add_source = service_health_simulator
    source = add_source(CustomerFactory())
    simulator.fail_next("/v1.0/admin/serviceAnnouncement/", 429, headers={"Retry-After": "1.5"})
    waits = []
    poll(source, sleep=waits.append)
    assert waits == [1.5]


@pytest.mark.parametrize("status", [401, 403])
def test_a_refusal_needs_an_admin_and_is_not_hammered(status, service_health_simulator):
    simulator, add_source = service_health_simulator
    source = add_source(CustomerFactory())
    simulator.fail_next("/v1.0/admin/serviceAnnouncement/", status, times=3)
    with pytest.raises(GraphError):
        poll(source)
    source.refresh_from_db()
    assert source.needs_attention is True
    assert "consent" in source.last_error
    assert source.next_poll_at >= timezone.now() + source.poll_interval - timedelta(seconds=5)
    gets = [r for r in simulator.requests if r[0] == "GET"]
    assert len(gets) <= 2  # a single token refresh, no retry loop


def test_unknown_enum_values_are_kept(customer_feed):
    simulator, customer, source = customer_feed
    exchange_incident(simulator, [customer.tenant_id])
    simulator.inject_unknown_enum(
        "EX100001", status="someFutureStatus", post_type="someFuturePostType"
    )
    poll(source)
    incident = Incident.objects.get()
    assert incident.status == "someFutureStatus"
    assert incident.status_label == "someFutureStatus"
    assert incident.posts.filter(post_type="someFuturePostType").exists()


def test_queries_per_poll_do_not_grow_with_incidents(service_health_simulator):
    simulator, add_source = service_health_simulator
    warm_up, small, large = CustomerFactory(), CustomerFactory(), CustomerFactory()
    source_warm_up, source_small, source_large = (
        add_source(warm_up),
        add_source(small),
        add_source(large),
    )
    poll(source_warm_up)  # creates the service catalogue, which the compared polls then share
    for n in range(3):
        exchange_incident(simulator, [small.tenant_id], issue_id=f"EX3000{n:02d}")
    for n in range(40):
        exchange_incident(simulator, [large.tenant_id], issue_id=f"EX4000{n:02d}")
    assert query_count(lambda: poll(source_small)) == query_count(lambda: poll(source_large))
    assert Incident.objects.count() == 43


def test_a_change_after_a_poll_that_learned_nothing_is_written(customer_feed):
    simulator, customer, source = customer_feed
    exchange_incident(simulator, [customer.tenant_id])
    # Modified long before the other: the first poll's full listing has it, the incremental
    # reads after it do not.
    simulator.add_issue(
        "EX100002",
        service_id="Exchange",
        title="Older issue",
        impact_description="Users could not sign in.",
        steps=[(T0 - timedelta(hours=3), "serviceRestored", "Fixed.", "regular", True)],
        tenant_ids=[str(customer.tenant_id)],
    )
    assert poll(source).incidents_created == 2
    with CaptureQueriesContext(connection) as queries:
        assert poll(source).incidents_unchanged == 1
    # What the first poll applied, as far as an incremental read goes (the digest): nothing
    # compared or written; the test's read of the source, the claim and the outcome.
    assert data_writes(queries, POLL_STATE) == [] and len(queries) == 3
    simulator.add_update("EX100001", "serviceDegradation", "Still investigating.")
    summary = poll(source)
    assert (summary.incidents_updated, summary.posts_added, summary.events) == (1, 1, 1)
    assert Incident.objects.get(microsoft_id="EX100001").posts.count() == 3


def test_a_workers_polls_go_over_one_kept_alive_connection(customer_feed):
    simulator, customer, source = customer_feed
    exchange_incident(simulator, [customer.tenant_id])
    # The same simulator served again here, to count the connections made to it.
    with SimulatorServer(simulator) as server:
        FeedSource.objects.filter(pk=source.pk).update(
            base_url=f"{server.url}/v1.0", token_url=server.url + "/{tenant_id}/oauth2/v2.0/token"
        )
        summaries = [poll(source) for _ in range(3)]
    assert [s.incidents_created for s in summaries] == [1, 0, 0]
    # A token, then the overviews and the issues at each poll: seven requests, one connection.
    assert len(simulator.requests) == 7
    assert server.connections_accepted == 1


def test_two_pollers_of_one_source_poll_it_once(service_health_simulator):
    _simulator, add_source = service_health_simulator
    source = add_source(CustomerFactory())
    assert polling.claim(source.pk) is not None
    with pytest.raises(polling.PollSkipped):
        poll(source)
    # A worker that died holding the lease: after it runs out, the source is polled again.
    later = timezone.now() + polling.LEASE + timedelta(seconds=1)
    assert polling.claim(source.pk, now=later) is not None


def test_the_scheduler_queues_due_sources_once(service_health_simulator, monkeypatch):
    from core import broker

    _simulator, add_source = service_health_simulator
    due, later = add_source(CustomerFactory()), add_source(CustomerFactory())
    FeedSource.objects.filter(pk=later.pk).update(next_poll_at=timezone.now() + timedelta(hours=1))
    queued = []
    # The broker, not the HTTP.
    monkeypatch.setattr(broker, "send_task", lambda *args: queued.append(args))
    assert polling.queue_due_sources() == [due.pk]
    assert polling.queue_due_sources() == []  # a second scheduler finds it already queued
    assert queued == [("servicehealth.tasks.poll_sources", [due.pk])]
    soon = timezone.now() + polling.QUEUE_TIMEOUT + timedelta(seconds=1)
    assert polling.queue_due_sources(now=soon) == [due.pk]  # the message was lost: queued again


def test_poll_feeds_prints_what_changed(customer_feed, capsys):
    simulator, customer, source = customer_feed
    exchange_incident(simulator, [customer.tenant_id])
    call_command("poll_feeds", "--source", str(source.pk))
    out = capsys.readouterr().out
    assert "1 new incidents" in out
    assert "new EX100001: Users can't send email" in out


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_polls_and_incidents_appear_through_the_api(
    service_health_simulator, redis_url, client_for
):
    simulator, add_source = service_health_simulator
    customer = CustomerFactory()
    source = add_source(customer)
    exchange_incident(simulator, [customer.tenant_id])
    with worker_in_thread("feeds"):
        assert polling.queue_due_sources() == [source.pk]
        wait_until(
            Incident.objects.exists,
            timeout=20,
            interval=0.2,
            message="the worker's poll recorded no incident",
        )
    response = client_for("helpdesk_agent").get("/api/v1/incidents/")
    assert response.status_code == 200
    assert [i["microsoft_id"] for i in response.json()["results"]] == ["EX100001"]


def test_an_incident_already_resolved_when_first_seen_raises_no_event(customer_feed):
    simulator, customer, source = customer_feed
    exchange_incident(simulator, [customer.tenant_id], resolve_at=T0 + timedelta(minutes=30))
    poll(source)
    assert Incident.objects.get().is_resolved
    assert AffectedCustomer.objects.count() == 1  # still shown on the customer's Incidents tab
    assert not Event.objects.exists()


def test_a_run_of_failures_is_dated_from_its_first_failure(service_health_simulator, client_for):

    simulator, add_source = service_health_simulator
    source = add_source(CustomerFactory())
    polling.record_failure(source, "Graph answered 500", now=timezone.now() - timedelta(hours=3))
    source.refresh_from_db()
    first = source.failing_since
    assert first is not None
    polling.record_failure(source, "Graph answered 500 again")
    source.refresh_from_db()
    assert (source.consecutive_failures, source.failing_since) == (2, first)
    page = client_for("global_admin").get(reverse("servicehealth:feed_list")).content.decode()
    assert "failing for 3" in page  # "failing for 3 hours"
    api = client_for("global_admin").get(f"/api/v1/feed-sources/{source.pk}/").json()
    assert api["failing_since"] == first.isoformat().replace("+00:00", "Z")

    FeedSource.objects.filter(pk=source.pk).update(next_poll_at=timezone.now())
    poll(source)
    source.refresh_from_db()
    assert source.failing_since is None
