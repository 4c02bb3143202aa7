"""1,000 service requests opened through the API, delivered by a real Celery worker to the webhook
receiver simulator, next to a bare Celery round trip measured in the same run.

Needs PostgreSQL and Redis: it uses DATABASE_URL / REDIS_URL when set, otherwise starts its own
on loopback with scripts/services.sh (as `make test` does) and stops them afterwards. Usage:

    .venv/bin/python bench/escalations.py [--requests 1000] [--concurrency 4]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import start_services, start_worker


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()

    stop_services = None
    if not os.environ.get("DATABASE_URL", "").startswith("postgres") or not os.environ.get(
        "REDIS_URL"
    ):
        stop_services, _postmaster_pid_file = start_services()
    os.environ.setdefault("VAR_DIR", tempfile.mkdtemp(prefix="portal-bench-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "partnerportal.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("API_THROTTLE_RATE", "100000/min")
    # It opens --requests service requests as fast as it can: past the tighter create rate too.
    os.environ.setdefault("API_SERVICE_REQUEST_CREATE_RATE", "100000/min")
    workers = []  # filled by run() as soon as the worker starts, so a failure still stops it
    try:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        run(args, workers)
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.terminate()
                worker.wait(timeout=30)
        if stop_services:
            stop_services()


def run(args, workers):
    from django.test import Client

    from accounts import services as account_services
    from core.models import WorkerHeartbeat
    from core.tasks import heartbeat
    from customers.models import Customer
    from servicerequests.models import Channel, Delivery, ServiceRequest, SupportTopic
    from simulators.http import SimulatorServer
    from simulators.webhook_receiver import WebhookReceiver

    receiver = WebhookReceiver(secret="bench-secret")
    server = SimulatorServer(receiver).start()
    Channel.objects.update(enabled=False)
    channel = Channel(
        name=f"Bench webhook {time.time()}",
        kind="webhook",
        category="technical",
        tier="advanced",
        endpoint=server.url + "/tickets",
    )
    channel.set_credentials({"signing_secret": "bench-secret"})
    channel.save()
    topic = SupportTopic.objects.filter(category="technical").first()
    customers = [
        Customer.objects.create(
            tenant_id=__import__("uuid").uuid4(),
            company_name=f"Bench {n}",
            default_domain=f"bench-esc-{time.time_ns()}-{n}.example",
            country="TR",
        )
        for n in range(20)
    ]
    _client, token = account_services.create_api_client(
        name=f"bench-{time.time_ns()}", role="helpdesk_agent", scopes=["read", "write"]
    )

    env = {**os.environ}
    worker = start_worker(
        "escalations",
        args.concurrency,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    workers.append(worker)
    # Baseline: a bare Celery round trip (publish → worker runs a one-row task → seen here).
    round_trips = []
    time.sleep(3)
    for _ in range(50):
        before = (
            WorkerHeartbeat.objects.filter(queue="bench")
            .values_list("last_seen", flat=True)
            .first()
        )
        started = time.perf_counter()
        heartbeat.apply_async(args=["bench"], queue="escalations")
        while (
            WorkerHeartbeat.objects.filter(queue="bench")
            .values_list("last_seen", flat=True)
            .first()
            == before
        ):
            time.sleep(0.002)
        round_trips.append(time.perf_counter() - started)

    client = Client(HTTP_HOST="127.0.0.1")
    started = time.perf_counter()
    for n in range(args.requests):
        response = client.post(
            "/api/v1/service-requests/",
            {
                "title": f"Bench request {n}",
                "description": "Opened by bench/escalations.py to measure delivery.",
                "severity": "moderate",
                "support_topic": topic.pk,
                "customer": str(customers[n % len(customers)].tenant_id),
                "primary_contact": {"name": "Bench", "email": "bench@customer.example"},
            },
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )
        assert response.status_code == 201, response.content[:300]
    accepted_seconds = time.perf_counter() - started
    deadline = time.monotonic() + 300
    ours = Delivery.objects.filter(channel=channel)
    while ours.filter(state="delivered").count() < args.requests and time.monotonic() < deadline:
        time.sleep(0.5)
    delivered = list(
        ours.filter(state="delivered").values_list("service_request__created_at", "delivered_at")
    )
    latencies = [(done - opened).total_seconds() for opened, done in delivered]
    first_open = min(opened for opened, _done in delivered)
    last_done = max(done for _opened, done in delivered)
    span = (last_done - first_open).total_seconds()
    base = statistics.median(round_trips)
    print(f"{args.requests} requests, worker concurrency {args.concurrency}, PostgreSQL + Redis")
    print(f"accepted through the API: {args.requests / accepted_seconds:.0f} requests/s")
    print(
        f"delivered: {len(delivered)}/{args.requests}, {len(receiver.tickets)} distinct tickets, "
        f"{len(delivered) / span:.0f} deliveries/s over {span:.1f} s"
    )
    print(f"{'measure':<34} {'p50 ms':>8} {'p99 ms':>8} {'p50 x baseline':>15}")
    print(
        f"{'bare Celery round trip (baseline)':<34} {base * 1000:>8.1f} {percentile(round_trips, 0.99) * 1000:>8.1f} {1.0:>15.1f}"
    )
    p50 = statistics.median(latencies)
    print(
        f"{'open → delivered':<34} {p50 * 1000:>8.1f} {percentile(latencies, 0.99) * 1000:>8.1f} {p50 / base:>15.1f}"
    )
    assert ServiceRequest.objects.count() >= args.requests
    server.stop()


if __name__ == "__main__":
    main()
