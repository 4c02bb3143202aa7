"""Customer list page and list API with 10,000 customers, as a ratio to a minimal Django view.

Each target is requested in-process through Django's test client on a throwaway database
(SQLite under a temporary VAR_DIR, or DATABASE_URL if set), so the figure is the portal's own
cost per request: views, queries, serialisation, templates. Usage:

    .venv/bin/python bench/customers.py [--customers 10000] [--requests 100] [--json]

With --json the table ends with one JSON line, ``{"list_page_vs_minimal": …}``: the worst of the
list-page targets as a multiple of the minimal view (the goal in issue 16 is at most 3).
"""

import argparse
import json
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import setup_django, timed

setup_django()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.http import JsonResponse  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import include, path  # noqa: E402


def minimal(request):
    return JsonResponse({"ok": True})


ROUNDS = 10

urlpatterns = [path("bench/minimal/", minimal), path("", include("partnerportal.urls"))]


def count_queries(client, url):
    queries = []
    with connection.execute_wrapper(
        lambda run, sql, *rest, log=queries: log.append(sql) or run(sql, *rest)
    ):
        client.get(url)
    return len(queries)


def seed(count):
    from datetime import timedelta

    from django.utils import timezone

    from customers import services
    from customers.models import Customer, DelegatedAdminRelationship

    rows = [
        {
            "tenant_id": uuid.uuid4(),
            "company_name": f"Bench Customer {n:05d}",
            "default_domain": f"bench{n:05d}.onmicrosoft.com",
            "other_domains": [f"bench{n:05d}.example"],
            "country": "TR" if n % 2 else "DE",
            "relationship": "reseller",
            "tags": ["vip"] if n % 10 == 0 else ["smb"],
            "contacts": [
                {
                    "name": f"Contact {n}",
                    "email": f"it@bench{n:05d}.example",
                    "phone": "",
                    "role": "primary",
                }
            ],
        }
        for n in range(count)
    ]
    services.import_customers(rows, actor=None)
    now = timezone.now()
    customers = list(Customer.objects.order_by("pk")[: count // 2])
    DelegatedAdminRelationship.objects.bulk_create(
        DelegatedAdminRelationship(
            customer=customer,
            microsoft_id=f"bench-{customer.pk}",
            display_name="Support",
            status="active",
            duration="P730D",
            roles=["f023fd81-a637-4b56-95fd-791ac0226033"],
            activated_on=now - timedelta(days=100),
            ends_on=now + timedelta(days=(customer.pk % 400) + 1),
        )
        for customer in customers
    )
    for customer in customers[:200]:
        services.refresh_gdap_summary(customer)
    # What autovacuum does within a minute of a bulk load, and what a database in use has: the
    # planner's statistics (without them it sorts the whole table for a deep page), the
    # visibility map (index-only counts) and the trigram index's pending entries merged.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=100, help="per target, in 10 rounds")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    args = parser.parse_args()

    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    settings.ROOT_URLCONF = __name__
    started = time.perf_counter()
    seed(args.customers)
    print(
        f"seeded {args.customers} customers in {time.perf_counter() - started:.1f} s "
        f"({connection.vendor})"
    )

    from django.contrib.auth.models import Group
    from django.core.cache import caches

    from accounts import token_cache
    from accounts.models import User
    from accounts.roles import Role

    agent = User.objects.create_user("bench-agent@bench.example", "x")
    agent.groups.add(Group.objects.get(name=Role.HELPDESK_AGENT))
    # Giving the role put a tombstone over the agent's cached permissions for a minute
    # (accounts.permission_cache); the agent measured is one whose role is older than that.
    caches["api_tokens"].delete(token_cache.PERMISSIONS_KEY % (agent.pk, agent.is_superuser))
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(agent)

    # Follow the cursor 100 pages (5,000 customers) deep, or halfway on a smaller seed.
    deep_pages = min(100, args.customers // 100)
    deep_api = "/api/v1/customers/"
    for _ in range(deep_pages):
        deep_api = client.get(deep_api).json()["next"].replace("http://127.0.0.1", "")
    last_page = max(1, min(150, args.customers // 50))
    targets = [
        ("minimal Django view (baseline)", "/bench/minimal/"),
        ("list page, page 1", "/customers/"),
        (f"list page, page {last_page}", f"/customers/?page={last_page}"),
        ("list page, search 'bench0421'", "/customers/?q=bench0421"),
        ("list page, expiring access", "/customers/?gdap_state=expiring"),
        ("API list, first page", "/api/v1/customers/"),
        (f"API list, {deep_pages} pages deep", deep_api),
    ]
    # The targets take turns, a few requests each round, so that a slower spell of a shared
    # machine falls on the baseline and the pages alike rather than on whichever ran then.
    for _label, url in targets:
        timed(client, url, 5)  # warm up
    samples = {label: [] for label, _url in targets}
    per_round = max(1, args.requests // ROUNDS)
    for _ in range(ROUNDS):
        for label, url in targets:
            samples[label].extend(timed(client, url, per_round))
    results = [
        (label, statistics.median(samples[label]), count_queries(client, url))
        for label, url in targets
    ]
    base = results[0][1]
    print(f"{'target':<34} {'median ms':>10} {'x baseline':>11} {'queries':>8}")
    for label, median, queries in results:
        print(f"{label:<34} {median * 1000:>10.2f} {median / base:>11.1f} {queries:>8}")
    if args.json:
        worst = max(median for label, median, _ in results if label.startswith("list page"))
        print(json.dumps({"list_page_vs_minimal": round(worst / base, 2)}))


if __name__ == "__main__":
    main()
