"""Escalations survive a worker killed with SIGKILL again and again, and a Redis that is down.

A real Celery worker subprocess delivers to the webhook receiver (which honours the
idempotency key) through a private Redis that this test starts, kills and restarts on a
loopback port of its own. The test itself plays beat: it runs the delivery sweep every second.
Prints a one-line JSON summary.
"""

import json
import random
import time

import pytest

from servicerequests import delivery, services
from servicerequests.models import Channel, Delivery
from tests.customers.factories import CustomerFactory
from tests.fault.helpers import LEASE_SECONDS, Worker, wait_for
from tests.servicerequests.helpers import channel, topic

pytestmark = [pytest.mark.fault, pytest.mark.django_db(transaction=True)]


def open_requests(count, target, customers):
    opened = []
    for n in range(count):
        opened.append(
            services.open_service_request(
                actor=None,
                title=f"Fault test {n}",
                description="Opened during a fault.",
                severity="moderate",
                support_topic=topic("technical"),
                customer=random.choice(customers),
                contact_name="Test Contact",
                contact_email="contact@customer.example",
            )
        )
    return opened


def test_no_request_is_lost_or_delivered_twice_when_workers_die_and_redis_restarts(
    private_broker, webhook_receiver, tmp_path
):
    webhook_receiver.latency = (0.05, 0.3)
    target = channel(
        "webhook",
        endpoint=webhook_receiver.base_url + "/tickets",
        credentials={"signing_secret": "receiver-signing-secret"},
    )
    Channel.objects.exclude(pk=target.pk).update(enabled=False)
    customers = [CustomerFactory() for _ in range(5)]
    worker = Worker(private_broker.url, tmp_path)
    started = time.monotonic()
    try:
        worker.start()
        # Part 1: 60 requests while the worker is SIGKILLed five times mid-delivery.
        first = open_requests(60, target, customers)
        for _ in range(5):
            time.sleep(random.uniform(0.8, 2.0))
            worker.kill()
            worker.start()
        # Part 2: Redis dies (and comes back empty) while 10 more requests are opened.
        private_broker.kill()
        second = open_requests(10, target, customers)
        assert Delivery.objects.filter(service_request__in=second).count() == 10  # committed
        private_broker.start()
        expected = len(first) + len(second)
        all_delivered = wait_for(
            lambda: Delivery.objects.filter(state="delivered").count() == expected,
            timeout=LEASE_SECONDS + 90,
            sweep=delivery.sweep,
        )
        recovery = time.monotonic() - started
    finally:
        worker.stop()
    states = dict(
        Delivery.objects.values_list("state").annotate(n=__import__("django").db.models.Count("pk"))
    )
    distinct_tickets = len(webhook_receiver.tickets)
    raw = len(webhook_receiver.deliveries)
    print(
        json.dumps(
            {
                "sent": expected,
                "delivered": states.get("delivered", 0),
                "raw_deliveries": raw,
                "raw_duplicates": raw - distinct_tickets,
                "distinct_effects": distinct_tickets,
                "worker_kills": worker.kills,
                "seconds": round(recovery, 1),
            }
        )
    )
    assert all_delivered, (states, worker.log_path.read_text()[-3000:])
    assert distinct_tickets == expected  # one ticket per request: 0 lost, 0 duplicate effects
    assert states.get("sending", 0) == 0
    # Raw re-sends happen only when a kill fell between "sent" and "recorded".
    assert raw - distinct_tickets <= worker.kills * 2
