"""Service requests opened through the API by concurrent clients, then delivered by a real Celery
worker to the webhook receiver simulator, against two baselines measured in the same run.

gunicorn serves the portal on a free loopback port (3 sync workers, as docker-compose.yml runs
it; bench/api.py starts it), and each of ``--clients`` threads is one API client: its own API
client and token, and its own HTTP connection, sending ``POST /api/v1/service-requests/`` with
an ``Idempotency-Key``, as the API asks of PSA tools. The phases, in order:

1. baseline: bare Celery round trips through the same worker (publish a task writing one row,
   the worker runs it, the bench sees the row);
2. baseline: ``POST /bench/bare-post/`` flat-out, a Django view served by the same gunicorn that
   does the API's token check (the portal's authentication class), parses the JSON body and
   writes one row: accepted/s;
3. ``--requests`` opened at a fixed ``--rate`` a second in all: open → delivered p50/p99 (the
   request's ``created_at`` to its delivery's ``delivered_at``), once all are delivered;
4. ``--requests`` opened flat-out (each client sends its next as soon as it has its answer):
   accepted/s, while the worker delivers them; then deliveries/s.

Needs PostgreSQL and Redis: it uses DATABASE_URL / REDIS_URL when set, otherwise starts its own
on loopback with scripts/services.sh (as `make test` does) and stops them afterwards. Usage:

    .venv/bin/python bench/escalations.py [--requests 1000] [--clients 16] [--rate 10]
        [--concurrency 4] [--workers 3] [--json]

``--json`` ends with one line: {"p50_vs_celery": …, "p99_ms": …, "accepted_vs_bare_post": …}.
"""

import argparse
import http.client
import itertools
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import api as bench_api
from bench.harness import celery_round_trips, free_port, setup_django, start_services, start_worker

OPEN_PATH = "/api/v1/service-requests/"
BARE_POST_PATH = "/bench/bare-post/"
BARE_TABLE = "bench_bare_post"
SECRET = "bench-escalations-secret"


# --- what gunicorn serves ------------------------------------------------------------------------
# gunicorn imports this file as ``bench.escalations``: nothing here may touch Django at import.


def bare_post(request):
    """The second baseline: the API's token check, the JSON body parsed, one row written."""
    from django.db import connection
    from django.http import JsonResponse
    from rest_framework.request import Request

    from accounts.authentication import ApiClientTokenAuthentication

    if request.method != "POST":
        return JsonResponse({"detail": "POST only"}, status=405)
    authenticated = ApiClientTokenAuthentication().authenticate(Request(request))
    if authenticated is None:
        return JsonResponse({"detail": "No token."}, status=401)
    body = json.loads(request.body)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {BARE_TABLE} (user_id, body) VALUES (%s, %s) RETURNING id",
            [authenticated[0].pk, json.dumps(body)],
        )
        (row_id,) = cursor.fetchone()
    return JsonResponse({"id": row_id}, status=201)


# A token, not a session: like the API's views, it has no CSRF check.
bare_post.csrf_exempt = True


def wsgi_application():
    """gunicorn's app factory: bench/api.py's (the portal and its baseline) plus the bare POST."""
    from django.urls import path

    application = bench_api.wsgi_application()
    bench_api.urlpatterns.insert(0, path(BARE_POST_PATH.lstrip("/"), bare_post))
    return application


# --- the clients ---------------------------------------------------------------------------------


class ApiClient:
    """One API client: its own token, its own HTTP connection (reopened when the server closes
    it, as gunicorn's sync workers do after each answer)."""

    def __init__(self, port, token):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def post(self, path, body, headers=None):
        """``(status, the parsed JSON answer)``."""
        try:
            return self._post(path, body, headers)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # A kept-alive connection the server closed meanwhile: once more on a new one (safe:
            # the creates carry an Idempotency-Key).
            self.connection.close()
            return self._post(path, body, headers)

    def _post(self, path, body, headers):
        headers = {**self.headers, **(headers or {})}
        self.connection.request("POST", path, body=json.dumps(body), headers=headers)
        response = self.connection.getresponse()
        return response.status, json.loads(response.read() or b"null")


def drive(clients, requests, send, rate=None):
    """Send ``requests`` requests from all the clients at once, each client one at a time:
    request n due n/``rate`` seconds after the start, or (no rate) as soon as a client is free.
    ``send(client, n)`` returns what to keep of the answer. Returns (seconds from the first send
    to the last answer, [(kept, seconds the request took)] in request order)."""
    results = [None] * requests
    numbers = itertools.count()  # shared by the threads; next() is atomic in CPython
    started = time.perf_counter()
    finished, failures = [], []

    def work(client):
        try:
            while (n := next(numbers)) < requests:
                if rate:
                    time.sleep(max(0.0, started + n / rate - time.perf_counter()))
                sent = time.perf_counter()
                results[n] = (send(client, n), time.perf_counter() - sent)
        except BaseException as exc:  # raised again below, in the main thread
            failures.append(exc)
        finished.append(time.perf_counter())

    threads = [threading.Thread(target=work, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return max(finished) - started, results


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


# --- the run -------------------------------------------------------------------------------------


def seed(run, receiver_url, clients):
    """A webhook channel at the receiver with the rule that routes the bench's topic to it (every
    other channel disabled), 20 customers, and one API client (helpdesk agent) per client."""
    from accounts import services as account_services
    from customers.models import Customer
    from servicerequests.models import Channel, RoutingRule, SupportTopic

    Channel.objects.update(enabled=False)
    channel = Channel(
        name=f"Bench webhook {run}",
        kind="webhook",
        category="technical",
        tier="advanced",
        endpoint=f"{receiver_url}/tickets",
    )
    channel.set_credentials({"signing_secret": SECRET})
    channel.save()
    topic = SupportTopic.objects.create(name=f"Bench topic {run}", category="technical")
    RoutingRule.objects.create(
        position=0, name=f"Bench {run}", support_topic=topic, channel=channel
    )
    customers = [
        Customer.objects.create(
            tenant_id=uuid.uuid4(),
            company_name=f"Bench {run} {n}",
            default_domain=f"bench-esc-{run}-{n}.example",
            country="TR",
        )
        for n in range(20)
    ]
    tokens = [
        account_services.create_api_client(
            name=f"bench-{run}-{n}", role="helpdesk_agent", scopes=["read", "write"]
        )[1]
        for n in range(clients)
    ]
    return channel, topic, customers, tokens


def opening(topic, customers, keys):
    """``send`` for ``drive``: opens request n; keeps its number."""

    def send(client, n):
        body = {
            "title": f"Bench request {n}",
            "description": "Opened by bench/escalations.py to measure delivery.",
            "severity": "moderate",
            "support_topic": topic.pk,
            "customer": str(customers[n % len(customers)].tenant_id),
            "primary_contact": {"name": "Bench", "email": "bench@customer.example"},
        }
        headers = {"Idempotency-Key": str(uuid.uuid4())} if keys else None
        status, answer = client.post(OPEN_PATH, body, headers)
        if status != 201:
            raise SystemExit(f"opening a request answered {status}: {str(answer)[:300]}")
        return answer["number"]

    return send


def bare_posting(client, n):
    status, answer = client.post(BARE_POST_PATH, {"title": f"Bench request {n}", "n": n})
    if status != 201:
        raise SystemExit(f"the bare POST answered {status}: {str(answer)[:300]}")
    return answer["id"]


def delivered(channel, numbers, timeout):
    """``[(created_at, delivered_at)]`` of the requests numbered ``numbers`` once all are
    delivered (or ``timeout`` seconds have passed)."""
    from servicerequests.models import Delivery

    ours = Delivery.objects.filter(
        channel=channel, service_request__number__in=numbers, state="delivered"
    )
    deadline = time.monotonic() + timeout
    while ours.count() < len(numbers) and time.monotonic() < deadline:
        time.sleep(0.2)
    return list(ours.values_list("service_request__created_at", "delivered_at"))


def run(args, processes):
    from django.db import connection

    from simulators.http import SimulatorServer
    from simulators.webhook_receiver import WebhookReceiver

    run_id = secrets.token_hex(3)
    receiver = WebhookReceiver(secret=SECRET)
    server = SimulatorServer(receiver).start()
    try:
        channel, topic, customers, tokens = seed(run_id, server.url, args.clients)
        with connection.cursor() as cursor:
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {BARE_TABLE} (id bigserial PRIMARY KEY, "
                "user_id bigint NOT NULL, body jsonb NOT NULL, "
                "created_at timestamptz NOT NULL DEFAULT now())"
            )
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        processes.append(start_worker("escalations", args.concurrency, **quiet))
        with tempfile.TemporaryFile("w+") as log:
            port = free_port()
            app = "bench.escalations:wsgi_application()"
            bench_api.start_gunicorn(args, port, log, processes, app=app)
            figures = measure(args, port, channel, topic, customers, tokens, receiver)
    finally:
        server.stop()
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {BARE_TABLE}")
    report(args, figures)


def measure(args, port, channel, topic, customers, tokens, receiver):
    round_trips = celery_round_trips("escalations")
    clients = [ApiClient(port, token) for token in tokens]
    print(f"{len(round_trips)} Celery round trips; the bare POST, flat-out ...", flush=True)
    drive(clients, min(args.requests, 20), bare_posting)  # warm: connections, imports, caches
    bare_seconds, _ids = drive(clients, args.requests, bare_posting)
    send = opening(topic, customers, args.idempotency_keys)
    drive(clients, min(args.requests, 20), send)
    print(f"opening {args.requests} at {args.rate:g}/s ...", flush=True)
    _seconds, paced = drive(clients, args.requests, send, rate=args.rate)
    paced_rows = delivered(channel, [number for number, _took in paced], 120)
    print(f"opening {args.requests} flat-out ...", flush=True)
    flat_seconds, flat = drive(clients, args.requests, send)
    flat_rows = delivered(channel, [number for number, _took in flat], 300)
    return {
        "round_trips": round_trips,
        "bare_per_s": args.requests / bare_seconds,
        "paced_answers": [took for _number, took in paced],
        "latencies": [(done - opened).total_seconds() for opened, done in paced_rows],
        "paced_delivered": len(paced_rows),
        "flat_per_s": args.requests / flat_seconds,
        "flat_answers": [took for _number, took in flat],
        "flat_delivered": flat_rows,
        "tickets": len(receiver.tickets),
    }


def report(args, figures):
    base = statistics.median(figures["round_trips"])
    latencies = figures["latencies"]
    p50, p99 = statistics.median(latencies), percentile(latencies, 0.99)
    flat_rows = figures["flat_delivered"]
    first_open = min(opened for opened, _done in flat_rows)
    span = (max(done for _opened, done in flat_rows) - first_open).total_seconds()
    accepted_ratio = figures["flat_per_s"] / figures["bare_per_s"]
    print()
    print(
        f"{args.clients} API clients (own token and connection each), gunicorn {args.workers} "
        f"{args.worker_class} workers, Celery worker concurrency {args.concurrency}, "
        f"PostgreSQL + Redis; {args.requests} requests per phase"
        f"{', with Idempotency-Key' if args.idempotency_keys else ''}"
    )
    print(f"{'measure':<40} {'per s':>7} {'p50 ms':>8} {'p99 ms':>8} {'x baseline':>10}")

    def row(label, per_s=None, values=None, ratio=None):
        columns = [
            "" if per_s is None else f"{per_s:.0f}",
            "" if values is None else f"{statistics.median(values) * 1000:.1f}",
            "" if values is None else f"{percentile(values, 0.99) * 1000:.1f}",
            "" if ratio is None else f"{ratio:.2f}",
        ]
        print(f"{label:<40} {columns[0]:>7} {columns[1]:>8} {columns[2]:>8} {columns[3]:>10}")

    row("bare Celery round trip (baseline)", values=figures["round_trips"], ratio=1.0)
    row(f"open → delivered, {args.rate:g}/s", values=latencies, ratio=p50 / base)
    row(f"  the POST's answer, {args.rate:g}/s", values=figures["paced_answers"])
    row("bare POST writing one row (baseline)", per_s=figures["bare_per_s"], ratio=1.0)
    row(
        "open, flat-out: accepted",
        per_s=figures["flat_per_s"],
        values=figures["flat_answers"],
        ratio=accepted_ratio,
    )
    print(
        f"delivered: {figures['paced_delivered']}/{args.requests} at {args.rate:g}/s, "
        f"{len(flat_rows)}/{args.requests} flat-out ({len(flat_rows) / span:.0f}/s from the "
        f"first open to the last delivery); the receiver holds {figures['tickets']} tickets"
    )
    if args.json:
        print(
            json.dumps(
                {
                    "p50_vs_celery": round(p50 / base, 2),
                    "p99_ms": round(p99 * 1000, 1),
                    "accepted_vs_bare_post": round(accepted_ratio, 3),
                }
            )
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000, help="per phase")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rate", type=float, default=10.0, help="requests/s, all clients")
    parser.add_argument("--concurrency", type=int, default=4, help="Celery worker processes")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers")
    parser.add_argument("--worker-class", default="sync", choices=["sync", "gthread"])
    parser.add_argument("--threads", type=int, default=1, help="per gthread worker")
    parser.add_argument("--idempotency-keys", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    args = parser.parse_args()

    # A plain kill ends the bench through the clean-up below, like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    stop_services = None
    if not os.environ.get("DATABASE_URL", "").startswith("postgres") or not os.environ.get(
        "REDIS_URL"
    ):
        stop_services, _postmaster_pid_file = start_services()
    processes = []  # gunicorn and the worker, appended as soon as they start, stopped below
    try:
        # As in production: no debug cursor or pages. The clients are held to rates they never
        # reach, the create rate (30 a minute per caller by default) included.
        setup_django(
            DEBUG="false",
            API_THROTTLE_RATE="10000000/min",
            API_SERVICE_REQUEST_CREATE_RATE="10000000/min",
        )
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        run(args, processes)
    finally:
        for process in processes:
            bench_api.stop_process(process)
        if stop_services:
            stop_services()


if __name__ == "__main__":
    main()
