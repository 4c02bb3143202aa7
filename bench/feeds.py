"""Polling 200 tenants × 100 incidents × 5 posts from the simulator, next to a raw bulk insert;
then one polling cycle over 10,000 tenants whose Graph answers each request after 100 ms.

For every tenant a customer and a feed source point at the bundled service-communications
simulator (real HTTP on loopback), served by a process of its own as Graph is another program
in production, so its JSON and HTTP work is not charged to the polls (the cycle's too). Like
Graph, it keeps connections alive (HTTP/1.1): each polling thread reuses its connection from
one request and one poll to the next, as a worker does against Microsoft. The
first poll of every source writes everything; a re-poll learns nothing and must write nothing
(counted: INSERT/UPDATE/DELETE statements other than the source's own lease and outcome). Both
poll the sources one after the other in this process. The baseline inserts the same rows
(incidents, posts, customer links) with three bulk_create calls in one transaction, measured
in the same run.

The cycle: ``--cycle-tenants`` tenants (5 incidents × 2 posts each), all due, polled by two
worker processes that each run what a Celery worker of the feeds queue runs, without the broker:
take a batch of due sources as the scheduler does (``core.leases.mark_queued``) and poll it
at once (``servicehealth.tasks.poll_sources``), until none is due. Timed from the moment both
processes are ready to the moment both are done; below 10,000 tenants the 10,000 figure is
extrapolated linearly. Usage:

    .venv/bin/python bench/feeds.py [--tenants 200] [--incidents 100] [--posts 5]
        [--cycle-tenants 10000] [--cycle-latency 0.1] [--json]
"""

import argparse
import json
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import setup_django

setup_django()

from django.db import connection, transaction  # noqa: E402

CYCLE_WORKERS = 2
CYCLE_INCIDENTS, CYCLE_POSTS = 5, 2
# The cycle's tenants are numbered after the first part's.
CYCLE_FIRST_TENANT = 1_000_001


class SimulatorProcess:
    """``scenarios.bulk(*scenario, latency=…, first_tenant=…)`` served by a process of its own,
    as Graph is another program in production: its JSON and HTTP work is not charged to the
    polls measured here. ``simulator`` is the same scenario built in this process (the same
    ``base`` time), for its tenant ids and issues; ``requests`` counts the requests served, once
    stopped."""

    def __init__(self, *scenario, latency=0.0, first_tenant=1):
        from simulators.service_health import scenarios

        self.options = {
            "scenario": scenario,
            "latency": latency,
            "first_tenant": first_tenant,
            "base": datetime.now(UTC).isoformat(),
        }
        self.simulator = scenarios.bulk(*scenario, **self._keywords(self.options))
        self.requests = None

    @staticmethod
    def _keywords(options):
        return {
            "latency": options["latency"],
            "first_tenant": options["first_tenant"],
            "base": datetime.fromisoformat(options["base"]),
        }

    def __enter__(self):
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve-simulator", json.dumps(self.options)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.url = self.process.stdout.readline().strip()
        assert self.url.startswith("http://"), self.url
        return self

    def __exit__(self, *exc):
        self.process.stdin.close()
        self.requests = int(self.process.stdout.readline())
        self.process.wait()

    @classmethod
    def serve(cls, options):
        """The serving process: prints its URL, serves until stdin closes, prints the count."""
        from simulators.http import SimulatorServer
        from simulators.service_health import scenarios

        options = json.loads(options)
        simulator = scenarios.bulk(*options["scenario"], **cls._keywords(options))
        with SimulatorServer(simulator) as server:
            print(server.url, flush=True)
            sys.stdin.read()
        print(len(simulator.requests), flush=True)


class QueryCounter:
    """Statements run, and data writes: INSERT/UPDATE/DELETE other than the source's own row
    (its lease and the poll's outcome)."""

    def __init__(self):
        self.count = 0
        self.data_writes = 0

    def __call__(self, execute, sql, *rest):
        self.count += 1
        if (
            sql.startswith(("INSERT", "UPDATE", "DELETE"))
            and '"servicehealth_feedsource"' not in (sql.split(" WHERE")[0])
        ):
            self.data_writes += 1
        return execute(sql, *rest)


def poll_all(sources, polling, feeds):
    durations, queries, data_writes = [], [], 0
    for source in sources:
        counter = QueryCounter()
        started = time.perf_counter()
        with connection.execute_wrapper(counter):
            polling.poll(source.pk, client=feeds.client_for(source, sleep=lambda s: None))
        durations.append(time.perf_counter() - started)
        queries.append(counter.count)
        data_writes += counter.data_writes
    return durations, queries, data_writes


def add_sources(tenants, server, label):
    """A customer and a client-credentials feed source for each tenant; returns the sources."""
    from customers.models import Customer
    from servicehealth.models import FeedSource

    customers = Customer.objects.bulk_create(
        (
            Customer(
                tenant_id=tenant_id,
                company_name=f"{label} Customer {n}",
                default_domain=f"t{tenant_id[:8]}{tenant_id[-12:]}.onmicrosoft.com",
                country="TR",
            )
            for n, tenant_id in enumerate(tenants)
        ),
        batch_size=1000,
    )
    sources = []
    for customer in customers:
        source = FeedSource(
            name=customer.company_name,
            customer=customer,
            tenant_id=customer.tenant_id,
            base_url=f"{server.url}/v1.0",
            token_url=server.url + "/{tenant_id}/oauth2/v2.0/token",
            client_id="partner-portal-demo",
        )
        source.client_secret = "demo-graph-secret"
        sources.append(source)
    FeedSource.objects.bulk_create(sources, batch_size=1000)
    return customers


def run_cycle(tenant_count, latency):
    """Seconds two worker processes take to poll ``tenant_count`` due sources (see the module)."""
    from servicehealth.models import FeedSource

    server = SimulatorProcess(
        tenant_count, CYCLE_INCIDENTS, CYCLE_POSTS, latency=latency, first_tenant=CYCLE_FIRST_TENANT
    )
    with server:
        customers = add_sources(sorted(server.simulator.tenants), server, "Cycle")
        first_pk = FeedSource.objects.get(customer=customers[0]).pk
        workers = [
            subprocess.Popen(
                [sys.executable, __file__, "--cycle-worker", str(first_pk)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(CYCLE_WORKERS)
        ]
        for worker in workers:
            assert worker.stdout.readline().strip() == "ready"
        started = time.perf_counter()
        for worker in workers:
            worker.stdin.write("go\n")
            worker.stdin.flush()
        outcomes = [worker.stdout.readline().split() for worker in workers]
        seconds = time.perf_counter() - started
        for worker in workers:
            worker.wait()
    sources = FeedSource.objects.filter(pk__gte=first_pk)
    failed = sources.filter(consecutive_failures__gt=0).count()
    unpolled = sources.filter(last_finished_at__isnull=True).count()
    polled = [int(polls) for polls, _cpu in outcomes]
    cpu_ms_per_poll = 1000 * sum(float(cpu) for _polls, cpu in outcomes) / max(1, sum(polled))
    return seconds, polled, failed, unpolled, server.requests, cpu_ms_per_poll


def cycle_worker(first_pk):
    """One worker process of the cycle: batches of due sources, each polled at once."""
    from django.utils import timezone

    from core import leases
    from servicehealth import polling, pool, tasks
    from servicehealth.models import FeedSource

    print("ready", flush=True)
    sys.stdin.readline()
    cpu = time.process_time()
    mine = FeedSource.objects.filter(enabled=True, pk__gte=first_pk)
    polled = 0
    while batch := leases.mark_queued(
        mine, timezone.now(), polling.QUEUE_TIMEOUT, polling.POLL_BATCH
    ):
        tasks.poll_sources(batch)
        polled += len(batch)
    pool.close()
    print(polled, time.process_time() - cpu, flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenants", type=int, default=200)
    parser.add_argument("--incidents", type=int, default=100)
    parser.add_argument("--posts", type=int, default=5)
    parser.add_argument("--cycle-tenants", type=int, default=10_000)
    parser.add_argument("--cycle-latency", type=float, default=0.1)
    parser.add_argument("--json", action="store_true", help="end with one line of JSON")
    parser.add_argument("--cycle-worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve-simulator", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_simulator is not None:
        SimulatorProcess.serve(args.serve_simulator)
        return
    if args.cycle_worker is not None:
        cycle_worker(args.cycle_worker)
        return

    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from incidents.models import AffectedCustomer, Incident, IncidentPost
    from servicehealth import feeds, polling
    from servicehealth.models import FeedSource

    server = SimulatorProcess(args.tenants, args.incidents, args.posts)
    simulator = server.simulator
    with server:
        tenants = sorted(simulator.tenants)
        customers = add_sources(tenants, server, "Feed")
        sources = list(
            FeedSource.objects.select_related("customer")
            .filter(customer__in=customers)
            .order_by("pk")
        )

        first, first_queries, _first_writes = poll_all(sources, polling, feeds)
        counts = {
            "incidents": Incident.objects.count(),
            "posts": IncidentPost.objects.count(),
            "links": AffectedCustomer.objects.count(),
        }
        FeedSource.objects.update(lease_until=None)
        again, again_queries, again_writes = poll_all(sources, polling, feeds)
        assert Incident.objects.count() == counts["incidents"]
        assert IncidentPost.objects.count() == counts["posts"]

    # Baseline: the same rows with three bulk inserts, no HTTP, no comparison.
    snapshot_rows = [
        (Incident(**{**i.fields, "microsoft_id": "B" + i.fields["microsoft_id"]}), i.posts)
        for i in _parse_all(simulator, tenants[0], feeds)
    ]
    incidents = [incident for incident, _posts in snapshot_rows]
    started = time.perf_counter()
    with transaction.atomic():
        Incident.objects.bulk_create(incidents, batch_size=500)
        IncidentPost.objects.bulk_create(
            [
                IncidentPost(incident=incident, **post)
                for incident, posts in snapshot_rows
                for post in posts
            ],
            batch_size=1000,
        )
        AffectedCustomer.objects.bulk_create(
            [
                AffectedCustomer(incident=incident, customer=customer)
                for customer in customers
                for incident in incidents[: args.incidents]
            ],
            batch_size=1000,
        )
    baseline = time.perf_counter() - started

    pairs = args.tenants * args.incidents
    total_first, total_again = sum(first), sum(again)
    print(
        f"{args.tenants} tenants × {args.incidents} incidents × {args.posts} posts "
        f"({counts['incidents']} distinct incidents, {counts['posts']} posts, "
        f"{counts['links']} customer links) on {connection.vendor}"
    )
    print(f"{'run':<34} {'seconds':>8} {'incidents/s':>12} {'queries/poll':>13} {'x baseline':>11}")
    rows = [
        ("raw bulk insert (baseline)", baseline, "—"),
        ("first poll of every source", total_first, f"{statistics.median(first_queries):.0f}"),
        ("re-poll, nothing new", total_again, f"{statistics.median(again_queries):.0f}"),
    ]
    for label, seconds, queries in rows:
        print(
            f"{label:<34} {seconds:>8.2f} {pairs / seconds:>12.0f} {queries:>13} {seconds / baseline:>11.1f}"
        )
    print(
        f"queries per poll: min {min(first_queries)}, max {max(first_queries)} (first); "
        f"min {min(again_queries)}, max {max(again_queries)} (re-poll); data writes in the "
        f"re-poll: {again_writes}"
    )

    seconds, polled, failed, unpolled, requests, cpu_ms = run_cycle(
        args.cycle_tenants, args.cycle_latency
    )
    per_10k = seconds * 10_000 / args.cycle_tenants
    print(
        f"cycle: {args.cycle_tenants} tenants ({CYCLE_INCIDENTS} incidents × {CYCLE_POSTS} posts "
        f"each), Graph answering after {args.cycle_latency * 1000:.0f} ms, {CYCLE_WORKERS} worker "
        f"processes × {polling.POLL_BATCH} threads: {seconds:.1f} s ({sum(polled)} polls: "
        f"{' + '.join(map(str, polled))}; {requests} Graph requests; {failed} failed, "
        f"{unpolled} not polled; worker CPU {cpu_ms:.1f} ms a poll)"
    )
    if args.cycle_tenants != 10_000:
        print(f"cycle: 10,000 tenants extrapolated linearly: {per_10k:.0f} s")
    if args.json:
        print(
            json.dumps(
                {
                    "first_poll_vs_bulk_insert": round(baseline / total_first, 3),
                    "repoll_speedup": round(total_first / total_again, 2),
                    "repoll_writes": again_writes,
                    "cycle_10k_tenants_s": round(per_10k, 1),
                    "cycle_tenants": args.cycle_tenants,
                }
            )
        )


def _parse_all(simulator, tenant_id, feeds):
    """The issues of the whole pool, parsed like a poll parses them (for the baseline rows)."""
    parsed = []
    for issue_id in simulator.issues:
        raw = simulator.issue_json(issue_id)
        issue = feeds.parse_issue(raw)
        if issue is not None:
            parsed.append(issue)
    return parsed


if __name__ == "__main__":
    main()
