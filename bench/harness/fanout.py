"""`bench/api.py --part fanout`: webhook fan-out delivered by a real Celery worker."""

import json
import os
import subprocess
import time
import uuid

from bench.harness import celery_round_trips, start_worker


def fanout(args, processes):
    """Webhook fan-out: ``--events`` events to ``--subscriptions`` subscriptions, deliveries/s.

    The subscriptions all point at the PSA receiver simulator (it verifies every signature with
    the standardwebhooks library) on loopback; a real Celery worker (``--fanout-concurrency``
    processes) fans the events out and delivers them. Baselines: a bare Celery round trip through
    the same worker, measured first, and a keep-alive POST loop from this one process to the same
    receiver (the same bodies, signed the same way), measured after. ``--json``: ends with one
    JSON line, ``{"deliveries_per_s": …, "ratio_vs_keepalive_post": …}``.
    """
    import statistics

    from django.utils import timezone

    from core import events
    from core.models import Event, EventTypeChoices
    from customers.models import Customer
    from integrations.models import WebhookDelivery, WebhookSubscription
    from integrations.services import create_subscription
    from simulators.http import SimulatorServer
    from simulators.psa_webhooks import PsaWebhookReceiver

    secret = "whsec_" + __import__("base64").b64encode(b"bench-fan-out-secret-24b").decode()
    receiver = PsaWebhookReceiver(secret=secret)
    server = SimulatorServer(receiver).start()
    WebhookSubscription.objects.update(is_active=False)
    # Events an earlier run left unfanned would go to this run's subscriptions too.
    Event.objects.filter(fanned_out_at__isnull=True).update(fanned_out_at=timezone.now())
    subscriptions = [
        create_subscription(
            actor=None,
            data={
                "name": f"bench-{time.time_ns()}-{n}",
                "target_url": f"{server.url}/psa/{n}",
                "event_types": list(EventTypeChoices.values),
            },
            secret=secret,
        )[0]
        for n in range(args.subscriptions)
    ]
    customers = list(Customer.objects.order_by("pk")[:50]) or [
        Customer.objects.create(
            tenant_id=uuid.uuid4(),
            company_name=f"Fan-out {n}",
            default_domain=f"fanout-{time.time_ns()}-{n}.example",
            country="TR",
        )
        for n in range(50)
    ]
    worker = start_worker(
        "webhooks",
        args.fanout_concurrency,
        env={**os.environ},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    processes.append(worker)
    try:
        # Baseline: publish → the worker runs a one-row task → seen here.
        round_trips = celery_round_trips("webhooks")

        from django.db import transaction

        built = [
            events.build(
                type=EventTypeChoices.INCIDENT_UPDATED,
                summary=f"EX{n:06d}: bench incident",
                object_type="incident",
                object_id=f"EX{n:06d}",
                object_url=f"/api/v1/incidents/EX{n:06d}/",
                consolidation_key=f"incident:EX{n:06d}:{customers[n % len(customers)].tenant_id}",
                tenant_id=customers[n % len(customers)].tenant_id,
                payload={"microsoft_id": f"EX{n:06d}", "status": "serviceDegradation"},
            )
            for n in range(args.events)
        ]
        started = time.perf_counter()
        with transaction.atomic():
            recorded = events.record(built)
        expected = args.events * args.subscriptions
        ours = WebhookDelivery.objects.filter(subscription__in=subscriptions)
        deadline = time.monotonic() + 600
        fanned_at = None
        while time.monotonic() < deadline:
            if fanned_at is None and ours.count() == expected:
                fanned_at = time.perf_counter()
            if ours.filter(state="delivered").count() >= expected:
                break
            time.sleep(0.5)
        elapsed = time.perf_counter() - started
        rows = list(
            ours.filter(state="delivered").values_list("event__occurred_at", "delivered_at")
        )
        latencies = sorted((done - occurred).total_seconds() for occurred, done in rows)
        first = min(occurred for occurred, _done in rows)
        last = max(done for _occurred, done in rows)
        span = (last - first).total_seconds()
        verified = receiver.verified
        ids = {d.headers.get("webhook-id") for d in verified}
        base = statistics.median(round_trips)
        per_s = len(rows) / span
        loop_per_s = keepalive_post_loop(
            ours.filter(state="delivered").select_related("subscription")
        )
        print(
            f"\nwebhook fan-out: {len(recorded):,} events x {args.subscriptions} subscriptions, "
            f"worker concurrency {args.fanout_concurrency}, PostgreSQL + Redis"
        )
        if fanned_at is not None:
            print(f"fanned out: {expected:,} deliveries written in {fanned_at - started:.1f} s")
        print(
            f"delivered: {len(rows):,}/{expected:,} in {span:.1f} s = {per_s:.0f} "
            f"deliveries/s; the receiver verified {len(verified):,} signatures, "
            f"{len(ids):,} distinct webhook-ids (waited {elapsed:.1f} s)"
        )
        print(
            f"keep-alive POST loop, one process (baseline): {loop_per_s:.0f} deliveries/s; "
            f"ratio {per_s / loop_per_s:.2f}"
        )
        p50 = latencies[len(latencies) // 2]
        p99 = latencies[int(len(latencies) * 0.99) - 1]
        print(f"{'measure':<36}{'p50 ms':>10}{'p99 ms':>10}{'p50 x base':>12}")
        rt = sorted(round_trips)
        print(
            f"{'bare Celery round trip (baseline)':<36}{base * 1000:>10.1f}"
            f"{rt[int(len(rt) * 0.99) - 1] * 1000:>10.1f}{1.0:>12.1f}"
        )
        print(
            f"{'event recorded -> delivered':<36}{p50 * 1000:>10.1f}{p99 * 1000:>10.1f}"
            f"{p50 / base:>12.1f}"
        )
        if args.json:
            summary = {
                "deliveries_per_s": round(per_s, 1),
                "ratio_vs_keepalive_post": round(per_s / loop_per_s, 3),
            }
            print(json.dumps(summary))
    finally:
        receiver.release()
        server.stop()


def keepalive_post_loop(deliveries):
    """Deliveries/s of a plain loop in this process: sign each body as the portal does and POST
    it on one requests session (kept alive where the receiver allows) to its subscription's URL.
    Fresh webhook-ids, so the receiver processes each as new rather than as a repeat."""
    import requests

    from integrations.sending import body_bytes, signed_headers

    bodies = [(d.subscription, body_bytes(d)) for d in deliveries]
    session = requests.Session()
    session.trust_env = False
    started = time.perf_counter()
    for n, (subscription, body) in enumerate(bodies):
        headers = signed_headers(subscription, f"msg_baseline_{n}_{uuid.uuid4().hex[:8]}", body)
        response = session.post(subscription.target_url, data=body, headers=headers, timeout=15)
        assert 200 <= response.status_code < 300, response.status_code
    return len(bodies) / (time.perf_counter() - started)
