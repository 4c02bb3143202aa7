"""Webhook deliveries survive a worker killed with SIGKILL again and again, and a Redis that is down.

A real Celery worker subprocess (the ``webhooks`` queue) fans events out and delivers them to a
PSA receiver that verifies every Standard Webhooks signature and drops repeats of a
``webhook-id``. The broker is a private Redis this test kills and restarts empty. The test plays
beat: it runs the webhook sweep (fan-out of missed events, due and abandoned deliveries) every
second. Prints a one-line JSON summary.
"""

import json
import random
import time

import pytest
from django.db.models import Count

from core import events
from core.models import EventTypeChoices
from integrations import services, tasks
from integrations.models import WebhookDelivery
from tests.customers.factories import CustomerFactory
from tests.fault.helpers import (
    LEASE_SECONDS,
    Worker,
    kill_repeatedly,
    wait_for,
    wait_until_all_delivered,
    with_redis_restarted_empty,
)
from tests.integrations.helpers import SECRET, incident_event

pytestmark = [pytest.mark.fault, pytest.mark.django_db(transaction=True)]

SUBSCRIPTIONS = 2


def record_events(first, count, customers):
    for n in range(first, first + count):
        customer = random.choice(customers)
        events.record([incident_event(customer, EventTypeChoices.INCIDENT_UPDATED, f"EX{n:06d}")])


def test_no_webhook_is_lost_or_applied_twice_when_workers_die_and_redis_restarts(
    private_broker, psa_receiver, cast, tmp_path
):
    receiver = psa_receiver
    receiver.latency = (0.02, 0.2)
    for n in range(SUBSCRIPTIONS):
        services.create_subscription(
            actor=cast["global_admin"],
            data={
                "name": f"PSA {n}",
                "target_url": f"{receiver.base_url}/psa/{n}",
                "event_types": [EventTypeChoices.INCIDENT_UPDATED],
            },
            secret=SECRET,
        )
    customers = [CustomerFactory() for _ in range(5)]
    worker = Worker(private_broker.url, tmp_path, queue="webhooks")
    started = time.monotonic()
    try:
        worker.start()
        # Part 1: 30 events (60 deliveries) while the worker is SIGKILLed five times.
        record_events(0, 30, customers)
        kill_repeatedly(worker, 5)
        # Part 2: Redis dies (and comes back empty) while 10 more events are recorded.
        with_redis_restarted_empty(private_broker, lambda: record_events(30, 10, customers))
        expected = 40 * SUBSCRIPTIONS
        all_delivered = wait_until_all_delivered(
            WebhookDelivery.objects, expected, tasks.sweep_webhook_deliveries
        )
        recovery = time.monotonic() - started
    finally:
        worker.stop()
    states = dict(WebhookDelivery.objects.values_list("state").annotate(n=Count("pk")))
    verified = receiver.verified
    distinct = len({d.headers.get("webhook-id") for d in verified})
    print(
        json.dumps(
            {
                "sent": expected,
                "delivered": states.get("delivered", 0),
                "raw_deliveries": len(receiver.deliveries),
                "raw_duplicates": len(verified) - distinct,
                "distinct_effects": distinct,
                "worker_kills": worker.kills,
                "seconds": round(recovery, 1),
            }
        )
    )
    assert all_delivered, (states, worker.log_path.read_text()[-3000:])
    assert WebhookDelivery.objects.count() == expected  # each event fanned out once
    assert distinct == expected  # 0 lost; repeats carry the same webhook-id, dropped by the PSA
    assert len(verified) == len(receiver.deliveries)  # every request was validly signed
    assert states.get("sending", 0) == 0
    # One ticket per incident and customer: the consolidation keys the 40 events carry.
    assert len(receiver.tickets_by_key) == 40
    assert len(verified) - distinct <= worker.kills * 2


def test_a_warm_shutdown_during_a_burst_finishes_or_hands_back_every_delivery(
    private_broker, psa_receiver, cast, tmp_path
):
    """R9: SIGTERM to the worker mid-burst; a new worker finishes the rest, none stuck."""
    receiver = psa_receiver
    receiver.latency = (0.05, 0.2)
    services.create_subscription(
        actor=cast["global_admin"],
        data={
            "name": "PSA",
            "target_url": f"{receiver.base_url}/psa",
            "event_types": [EventTypeChoices.INCIDENT_UPDATED],
        },
        secret=SECRET,
    )
    customers = [CustomerFactory() for _ in range(3)]
    worker = Worker(private_broker.url, tmp_path, queue="webhooks")
    try:
        worker.start()
        record_events(0, 40, customers)
        assert wait_for(
            lambda: WebhookDelivery.objects.filter(state="delivered").exists(),
            timeout=30,
            sweep=lambda: None,
            sweep_every=0.1,
        )
        worker.terminate()
        in_flight = WebhookDelivery.objects.filter(state="sending").count()
        delivered_by_the_first = WebhookDelivery.objects.filter(state="delivered").count()
        worker.start()
        all_delivered = wait_for(
            lambda: WebhookDelivery.objects.filter(state="delivered").count() == 40,
            timeout=LEASE_SECONDS + 60,
            sweep=tasks.sweep_webhook_deliveries,
        )
    finally:
        worker.stop()
    print(
        json.dumps(
            {
                "sent": 40,
                "delivered_before_sigterm_returned": delivered_by_the_first,
                "left_sending_by_the_warm_shutdown": in_flight,
                "raw_deliveries": len(receiver.deliveries),
            }
        )
    )
    assert all_delivered, worker.log_path.read_text()[-3000:]
    # A warm shutdown finishes what it started: nothing is left holding a lease.
    assert in_flight == 0
    assert len({d.headers.get("webhook-id") for d in receiver.verified}) == 40
