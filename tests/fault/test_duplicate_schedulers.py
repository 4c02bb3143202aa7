"""R8: two workers and two beats by mistake, then two polls of one tenant at once.

Everything runs as real subprocesses on a private Redis: two ``celery beat`` processes (each with
its own schedule file, as two hosts would have: beat keeps its state in a file, so they never see
each other) and two workers on the feeds and escalations queues. The test does not play beat: the
two beats are the system under test. Three customers' feed sources on the service-health
simulator are due (poll interval 300 s, so each must be polled exactly once) and 20 service
requests go through both outboxes: escalated to the webhook receiver, and sent as webhooks to a
PSA receiver. Every source must be read once (the simulator's request log per tenant), every
incident, link and event written once, every request delivered once by each outbox.

Then two polls of one source are queued at once while its feed answers slowly: one polls, the
other finds the lease taken and is skipped (``polling.PollSkipped``, which the task suppresses). The
workers' own counters (``inspect().stats()`` and ``active()``) show both ran; the simulator shows
one poll's worth of reads. Prints a one-line JSON summary.
"""

import json
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from core.models import Event
from incidents.models import AffectedCustomer, Incident
from partnerportal.celery import app
from servicehealth import polling
from servicehealth.models import FeedSource
from servicehealth.tasks import poll_source
from servicerequests.models import Delivery
from tests.customers.factories import CustomerFactory
from tests.fault.helpers import (
    BOTH_QUEUES,
    Beat,
    Worker,
    assert_webhooks_once,
    delivered_counts,
    open_requests,
    wait_for,
    webhook_summary,
)

pytestmark = [pytest.mark.fault, pytest.mark.django_db(transaction=True)]

SOURCES = 3
REQUESTS = 20
ANNOUNCEMENT = "/v1.0/admin/serviceAnnouncement"
POLL_TASK = "servicehealth.tasks.poll_source"
BATCH_TASK = polling.POLL_BATCH_TASK
TICK_TASK = "servicehealth.tasks.poll_due_sources"
# The feed's first answer to the doubled poll is held back this long, so the second poll comes
# while the first holds the lease.
HOLD_SECONDS = 6


def graph_reads(simulator, tenant_id):
    """The Graph reads made as ``tenant_id``, by path (token requests aside)."""
    return Counter(
        path
        for method, path, *_rest in simulator.requests_by_tenant(tenant_id)
        if method == "GET" and path.startswith(ANNOUNCEMENT)
    )


def worker_counts(workers):
    """Tasks the workers have started, by name (summed), and the names of those running now."""
    inspect = app.control.inspect(timeout=2, limit=len(workers))
    stats = inspect.stats() or {}
    active = inspect.active() or {}
    started = Counter()
    for reply in stats.values():
        started.update(reply.get("total", {}))
    running = Counter(task["name"] for tasks in active.values() for task in tasks)
    return started, running, len(stats)


def test_two_beats_and_two_workers_do_everything_once_and_a_doubled_poll_is_skipped(
    private_broker,
    webhook_receiver,
    psa_receiver,
    both_outboxes,
    service_health_simulator,
    tmp_path,
):
    simulator, add_source = service_health_simulator
    customers = [CustomerFactory() for _ in range(SOURCES)]
    sources = []
    for n, customer in enumerate(customers):
        sources.append(add_source(customer, poll_interval_seconds=300, next_poll_at=timezone.now()))
        simulator.add_issue(
            f"EX40{n:04d}",
            service_id="Exchange",
            title=f"Mail delivery is delayed in region {n}",
            impact_description="Users may see delays sending email.",
            steps=[
                (datetime.now(UTC) - timedelta(hours=1), "serviceDegradation", "Investigating."),
            ],
            tenant_ids=[str(customer.tenant_id)],
        )
    env = {"REDIS_URL": private_broker.url}
    beats = [Beat(private_broker.url, tmp_path, name=f"beat{n}", env=env) for n in (1, 2)]
    workers = [
        Worker(
            private_broker.url, tmp_path, queue=f"feeds,{BOTH_QUEUES}", env=env, name=f"worker{n}"
        )
        for n in (1, 2)
    ]
    processes = beats + workers
    started_at = time.monotonic()
    try:
        for process in processes:
            process.start()
        for worker in workers:
            worker.wait_ready()
        opened = open_requests(
            REQUESTS,
            customers,
            title="Two schedulers",
            description="Opened while two beats and two workers run.",
        )

        def settled():
            # Every source polled and every request delivered, both beats have sent the feed
            # tick (so both took part), and every tick they sent has run.
            if FeedSource.objects.filter(last_success_at__isnull=True).exists():
                return False
            if min(delivered_counts()) < len(opened):
                return False
            ticks = [beat.sent("poll-due-feed-sources") for beat in beats]
            if min(ticks) == 0:
                return False
            started, running, _replies = worker_counts(workers)
            return started[TICK_TASK] == sum(ticks) and not running[BATCH_TASK]

        # Each beat's first feed tick comes 30 s after it started; a few seconds more for the
        # processes to start and the tasks to run.
        all_done = wait_for(settled, timeout=75, sweep=lambda: None)
        settle_seconds = time.monotonic() - started_at
        started, _running, replies = worker_counts(workers)
        reads = {source.pk: graph_reads(simulator, source.tenant_id) for source in sources}
        ticks = [beat.sent("poll-due-feed-sources") for beat in beats]
        sweeps = [beat.sent("sweep-deliveries") for beat in beats]
        webhook_sweeps = [beat.sent("sweep-webhook-deliveries") for beat in beats]

        # Two polls of one tenant at once. The source is due and queued, as a scheduler leaves
        # it (``queued_until``: the beats do not queue it a third time).
        doubled = sources[0]
        before = FeedSource.objects.get(pk=doubled.pk)
        now = timezone.now()
        FeedSource.objects.filter(pk=doubled.pk).update(
            next_poll_at=now, queued_until=now + polling.QUEUE_TIMEOUT
        )
        events_before = Event.objects.filter(type__startswith="incident.").count()
        simulator.fail_next(
            f"{ANNOUNCEMENT}/healthOverviews",
            200,
            delay=HOLD_SECONDS,
            tenant_id=doubled.tenant_id,
        )
        polls_before = started[POLL_TASK]
        batches = started[BATCH_TASK]
        poll_source.delay(doubled.pk)
        poll_source.delay(doubled.pk)

        def one_skipped_while_the_other_reads():
            started, running, _replies = worker_counts(workers)
            return started[POLL_TASK] == polls_before + 2 and running[POLL_TASK] == 1

        overlapped = wait_for(
            one_skipped_while_the_other_reads,
            timeout=HOLD_SECONDS + 10,
            sweep=lambda: None,
            sweep_every=0.1,
        )

        def both_done():
            started, running, _replies = worker_counts(workers)
            return started[POLL_TASK] == polls_before + 2 and not running[POLL_TASK]

        doubled_done = wait_for(both_done, timeout=HOLD_SECONDS + 30, sweep=lambda: None)
        alive = [process.process.poll() is None for process in processes]
    finally:
        for process in processes:
            process.stop()

    after = FeedSource.objects.get(pk=doubled.pk)
    doubled_reads = graph_reads(simulator, doubled.tenant_id) - reads[doubled.pk]
    incident_ids = set(Incident.objects.values_list("pk", flat=True))
    created_events = list(
        Event.objects.filter(type="incident.created").values_list("object_id", "tenant_id")
    )
    states = Counter(Delivery.objects.values_list("state", flat=True))
    raw = len(webhook_receiver.deliveries)
    distinct = len(webhook_receiver.tickets)
    print(
        json.dumps(
            {
                "beats": len(beats),
                "workers": replies,
                "beat_feed_ticks": ticks,
                "beat_sweeps": sweeps,
                "sources": len(sources),
                "poll_batch_tasks": batches,
                "issue_reads_per_tenant": [reads[s.pk][f"{ANNOUNCEMENT}/issues"] for s in sources],
                "incidents": len(incident_ids),
                "links": AffectedCustomer.objects.count(),
                "incident_created_events": len(created_events),
                "sent": len(opened),
                "delivered": states.get("delivered", 0),
                "distinct_effects": distinct,
                "raw_duplicates": raw - distinct,
                "beat_webhook_sweeps": webhook_sweeps,
                **webhook_summary(psa_receiver),
                "doubled_polls_queued": 2,
                "doubled_polls_read": doubled_reads[f"{ANNOUNCEMENT}/issues"],
                "doubled_skipped_while_held": overlapped,
                "settle_seconds": round(settle_seconds, 1),
            }
        )
    )
    logs = "\n".join(p.log_path.read_text()[-1500:] for p in processes if p.log_path.exists())
    assert all(alive), logs
    assert all_done, (
        list(FeedSource.objects.values_list("last_success_at", "last_error")),
        states,
        ticks,
        logs,
    )
    # Both beats sent the feed tick and the delivery sweep, and both workers answered.
    assert min(ticks) >= 1 and min(sweeps) >= 1 and min(webhook_sweeps) >= 1, (
        ticks,
        sweeps,
        webhook_sweeps,
    )
    assert replies == 2
    # Each source was queued once, in batch tasks (one, unless two beats' ticks split the three),
    # and read once: one poll's worth of reads per tenant, and the tenants' data are alike, so
    # each made the same reads.
    assert 1 <= batches <= SOURCES and polls_before == 0, started
    assert all(r[f"{ANNOUNCEMENT}/issues"] == 1 for r in reads.values()), reads
    assert len({tuple(sorted(r.items())) for r in reads.values()}) == 1, reads
    # Written once: one incident per tenant, one link each, one incident.created per link.
    assert len(incident_ids) == SOURCES
    links = list(
        AffectedCustomer.objects.values_list(
            "incident_id", "incident__microsoft_id", "customer__tenant_id"
        )
    )
    assert len(links) == SOURCES and {i for i, _m, _t in links} == incident_ids
    assert {t for _i, _m, t in links} == {c.tenant_id for c in customers}
    assert sorted(created_events) == sorted((m, t) for _i, m, t in links), created_events
    # Delivered once each: 20 tickets, no raw re-sends.
    assert states == {"delivered": REQUESTS}, states
    assert distinct == REQUESTS and raw == REQUESTS, (distinct, raw)
    assert_webhooks_once(psa_receiver, REQUESTS)
    assert len(psa_receiver.deliveries) == REQUESTS  # no raw re-sends either
    # The doubled poll: both tasks ran, one read the feed (one poll's worth) while the other
    # found the lease taken and did nothing.
    assert overlapped and doubled_done, logs
    assert doubled_reads == reads[doubled.pk], (doubled_reads, reads[doubled.pk])
    assert after.last_success_at > before.last_success_at
    assert after.last_polled_at > before.last_polled_at
    assert after.lease_until is None and after.last_error == "" and after.consecutive_failures == 0
    # Nothing changed in the feed, so nothing new was written.
    assert Incident.objects.count() == SOURCES and AffectedCustomer.objects.count() == SOURCES
    assert Event.objects.filter(type__startswith="incident.").count() == events_before
