"""Staff list page with 500 staff, as a ratio to a minimal page served the same way.

Runs in-process through Django's test client on a throwaway SQLite database (or DATABASE_URL),
so the figure is the portal's own cost per request: views, queries, templates. Usage:

    .venv/bin/python bench/pages.py [--staff 500] [--requests 200]
"""

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import setup_django, timed

setup_django()

from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--staff", type=int, default=500)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    from django.contrib.auth.models import Group

    from accounts.models import User
    from accounts.roles import Role

    helpdesk = Group.objects.get(name=Role.HELPDESK_AGENT)
    users = User.objects.bulk_create(
        User(email=f"agent{i}@bench.example", full_name=f"Agent {i}") for i in range(args.staff)
    )
    User.groups.through.objects.bulk_create(
        User.groups.through(user_id=user.pk, group_id=helpdesk.pk) for user in users
    )
    admin = User.objects.create_user("bench-admin@bench.example", "x")
    admin.groups.add(Group.objects.get(name=Role.GLOBAL_ADMIN))
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(admin)

    from django.db import connection

    results = {}
    for label, path in (("baseline /healthz", "/healthz"), ("staff list /staff/", "/staff/")):
        timed(client, path, 10)  # warm up
        queries = []
        with connection.execute_wrapper(
            lambda execute, sql, *rest, log=queries: log.append(sql) or execute(sql, *rest)
        ):
            client.get(path)
        durations = timed(client, path, args.requests)
        results[label] = (statistics.median(durations), len(queries))

    base = results["baseline /healthz"][0]
    print(f"{'page':<22} {'median ms':>10} {'x baseline':>11} {'queries':>8}")
    for label, (median, query_count) in results.items():
        print(f"{label:<22} {median * 1000:>10.2f} {median / base:>11.2f} {query_count:>8}")


if __name__ == "__main__":
    main()
