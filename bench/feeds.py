"""Polling 200 tenants × 100 incidents × 5 posts from the simulator, next to a raw bulk insert.

For every tenant a customer and a feed source point at the bundled service-communications
simulator (real HTTP on loopback). The first poll of every source writes everything; a re-poll
learns nothing and must write nothing. The baseline inserts the same rows (incidents, posts,
customer links) with three bulk_create calls in one transaction, measured in the same run.
Usage:

    .venv/bin/python bench/feeds.py [--tenants 200] [--incidents 100] [--posts 5]
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import setup_django

setup_django()

from django.db import connection, transaction  # noqa: E402


class QueryCounter:
    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, *rest):
        self.count += 1
        return execute(sql, *rest)


def poll_all(sources, polling, feeds):
    durations, queries = [], []
    for source in sources:
        counter = QueryCounter()
        started = time.perf_counter()
        with connection.execute_wrapper(counter):
            polling.poll(source.pk, client=feeds.client_for(source, sleep=lambda s: None))
        durations.append(time.perf_counter() - started)
        queries.append(counter.count)
    return durations, queries


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenants", type=int, default=200)
    parser.add_argument("--incidents", type=int, default=100)
    parser.add_argument("--posts", type=int, default=5)
    args = parser.parse_args()

    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from customers.models import Customer
    from incidents.models import AffectedCustomer, Incident, IncidentPost
    from servicehealth import feeds, polling
    from servicehealth.models import FeedSource
    from simulators.http import SimulatorServer
    from simulators.service_health import scenarios

    simulator = scenarios.bulk(args.tenants, args.incidents, args.posts)
    with SimulatorServer(simulator) as server:
        tenants = sorted(simulator.tenants)
        customers = Customer.objects.bulk_create(
            Customer(
                tenant_id=tenant_id,
                company_name=f"Feed Customer {n}",
                default_domain=f"feed{n}.onmicrosoft.com",
                country="TR",
            )
            for n, tenant_id in enumerate(tenants)
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
        FeedSource.objects.bulk_create(sources)
        sources = list(FeedSource.objects.select_related("customer").order_by("pk"))

        first, first_queries = poll_all(sources, polling, feeds)
        counts = {
            "incidents": Incident.objects.count(),
            "posts": IncidentPost.objects.count(),
            "links": AffectedCustomer.objects.count(),
        }
        FeedSource.objects.update(lease_until=None)
        again, again_queries = poll_all(sources, polling, feeds)
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
        f"min {min(again_queries)}, max {max(again_queries)} (re-poll)"
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
