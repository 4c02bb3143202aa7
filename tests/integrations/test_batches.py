"""Webhook deliveries sent a subscription at a time: claimed in a batch, sent over one kept-alive
connection, recorded in bulk, with each delivery's guarantees kept.

Real HTTP on loopback: the PSA receiver simulator, and for the connection count a small HTTP/1.1
server here (the simulator's server answers HTTP/1.0, one request per connection).
"""

import threading
import uuid
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core import events
from core.models import EventTypeChoices
from integrations import delivery, fanout, services
from integrations.models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from tests.customers.factories import CustomerFactory
from tests.helpers import serving
from tests.integrations.helpers import SECRET, incident_event

pytestmark = pytest.mark.django_db


class QueuedOutbox(delivery.WebhookOutbox):
    """The webhook outbox, keeping the receivers it would queue again instead of queueing."""

    def __init__(self, **attributes):
        self.__dict__.update(attributes)
        self.queued = []

    def queue_receivers(self, keys):
        self.queued.extend(keys)


def subscribe(admin, url):
    subscription, _secret = services.create_subscription(
        actor=admin,
        data={
            "name": f"PSA {uuid.uuid4().hex[:6]}",
            "target_url": url,
            "event_types": [EventTypeChoices.INCIDENT_UPDATED],
        },
        secret=SECRET,
    )
    return subscription


def record_events(count, first=0):
    """``count`` events, fanned out; the deliveries in the order they were written."""
    customer = CustomerFactory()
    events.record(
        [
            incident_event(customer, EventTypeChoices.INCIDENT_UPDATED, f"EX{n:06d}")
            for n in range(first, first + count)
        ]
    )
    fanout.fan_out_pending()
    return list(WebhookDelivery.objects.order_by("pk"))


def received_ids(receiver):
    return [d.headers.get("webhook-id") for d in receiver.deliveries]


def test_a_batch_is_claimed_sent_in_order_and_recorded(admin, receiver):
    subscription = subscribe(admin, f"{receiver.base_url}/psa")
    rows = record_events(5)

    states = delivery.deliver_batch(subscription.pk)

    assert states == {row.pk: "delivered" for row in rows}
    assert received_ids(receiver) == [row.message_id for row in rows]  # oldest first
    assert len(receiver.verified) == 5
    assert set(WebhookDelivery.objects.values_list("state", "attempts", "lease_until")) == {
        ("delivered", 1, None)
    }
    assert (
        list(WebhookAttempt.objects.values_list("number", "outcome", "status_code"))
        == [(1, "success", 201)] * 5
    )
    subscription.refresh_from_db()
    assert subscription.last_success_at is not None
    assert delivery.deliver_batch(subscription.pk) == {}  # nothing left to claim


def test_delivery_k_of_n_failing_keeps_those_before_it_and_retries_the_rest(admin, receiver):
    subscription = subscribe(admin, f"{receiver.base_url}/psa")
    rows = record_events(5)
    receiver.respond_next(None, times=2)
    receiver.respond_next(503)

    states = delivery.deliver_batch(subscription.pk)

    # The third failed: the two before it are delivered, the batch stopped there.
    assert states == {rows[0].pk: "delivered", rows[1].pk: "delivered", rows[2].pk: "pending"}
    assert received_ids(receiver) == [row.message_id for row in rows[:3]]
    failed = WebhookDelivery.objects.get(pk=rows[2].pk)
    assert (failed.attempts, failed.last_status_code) == (1, 503)
    assert failed.next_attempt_at > timezone.now()
    # The two after it were not tried: no attempt counted or logged, due with the retry.
    for untried in WebhookDelivery.objects.filter(pk__in=[rows[3].pk, rows[4].pk]):
        assert (untried.state, untried.attempts, untried.lease_until) == ("pending", 0, None)
        assert untried.next_attempt_at == failed.next_attempt_at
        assert not untried.attempt_log.exists()
    assert delivery.deliver_batch(subscription.pk) == {}  # not due yet: nothing is sent early

    WebhookDelivery.objects.filter(state="pending").update(next_attempt_at=timezone.now())
    states = delivery.deliver_batch(subscription.pk)

    assert states == {row.pk: "delivered" for row in rows[2:]}
    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {"delivered"}
    # Nothing lost, nothing doubled: each delivery once, but the failed one twice (same id).
    assert received_ids(receiver) == [row.message_id for row in rows[:3] + rows[2:]]
    assert len(receiver.tickets) == 5
    assert list(
        WebhookAttempt.objects.order_by("delivery_id", "number").values_list(
            "delivery_id", "number", "outcome"
        )
    ) == [
        (rows[0].pk, 1, "success"),
        (rows[1].pk, 1, "success"),
        (rows[2].pk, 1, "retry"),
        (rows[2].pk, 2, "success"),
        (rows[3].pk, 1, "success"),
        (rows[4].pk, 1, "success"),
    ]


def test_a_410_mid_batch_disables_the_subscription_and_the_rest_wait(admin, receiver):
    subscription = subscribe(admin, f"{receiver.base_url}/psa")
    rows = record_events(4)
    receiver.respond_next(None)
    receiver.respond_next(410)

    states = delivery.deliver_batch(subscription.pk)

    assert states == {rows[0].pk: "delivered", rows[1].pk: "failed"}
    subscription.refresh_from_db()
    assert subscription.is_active is False
    waiting = WebhookDelivery.objects.filter(pk__in=[rows[2].pk, rows[3].pk])
    assert set(waiting.values_list("state", "attempts")) == {("pending", 0)}
    assert len(receiver.deliveries) == 2
    assert delivery.deliver_batch(subscription.pk) == {}  # a disabled subscription's rows wait


def test_a_permanent_refusal_of_one_delivery_does_not_stop_the_batch(admin, receiver):
    subscription = subscribe(admin, f"{receiver.base_url}/psa")
    rows = record_events(3)
    receiver.respond_next(422)

    states = delivery.deliver_batch(subscription.pk)

    assert states == {rows[0].pk: "failed", rows[1].pk: "delivered", rows[2].pk: "delivered"}
    subscription.refresh_from_db()
    # The successes after the refusal count: the subscription is healthy again.
    assert (subscription.consecutive_failures, subscription.failing_since) == (0, None)


def test_two_workers_never_claim_the_same_rows_and_an_abandoned_batch_is_taken_back(
    admin, receiver
):
    subscription = subscribe(admin, f"{receiver.base_url}/psa")
    record_events(3)
    first, first_lease = delivery.OUTBOX.claim_batch(subscription.pk)
    assert len(first) == 3
    second, _lease = delivery.OUTBOX.claim_batch(subscription.pk)
    assert second == []  # held under the first claim's lease

    later = timezone.now() + delivery.LEASE + timedelta(seconds=1)
    taken, _lease = delivery.OUTBOX.claim_batch(subscription.pk, now=later)
    assert [row.pk for row in taken] == [row.pk for row in first]  # the first worker died
    assert {row.attempts for row in taken} == {2}
    # The first claim, back late, records nothing over the newer one (its attempts are logged).
    assert delivery.OUTBOX.hand_back(first, first_lease, timezone.now()) == 0
    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {"sending"}


def test_no_delivery_is_started_once_half_the_lease_has_gone(admin, receiver):
    subscription = subscribe(admin, f"{receiver.base_url}/psa")
    rows = record_events(3)
    outbox = QueuedOutbox(lease=timedelta(0))

    assert outbox.deliver_batch(subscription.pk) == {}

    assert receiver.deliveries == []
    assert set(WebhookDelivery.objects.values_list("state", "attempts", "lease_until")) == {
        ("pending", 0, None)
    }
    assert all(row.next_attempt_at <= timezone.now() for row in WebhookDelivery.objects.all())
    assert outbox.queued == [subscription.pk]  # queued again for the rest
    assert not WebhookAttempt.objects.filter(delivery__in=rows).exists()


def test_a_full_batch_queues_the_subscription_again(admin, receiver):
    subscription = subscribe(admin, f"{receiver.base_url}/psa")
    rows = record_events(3)
    outbox = QueuedOutbox(batch_size=2)

    assert outbox.deliver_batch(subscription.pk) == {row.pk: "delivered" for row in rows[:2]}
    assert outbox.queued == [subscription.pk]
    assert outbox.deliver_batch(subscription.pk) == {rows[2].pk: "delivered"}
    assert outbox.queued == [subscription.pk]  # not again: the last batch was not full


def test_the_queries_per_batch_do_not_grow_with_its_size(admin, receiver):
    # Recorded once at the end, whatever the receiver's speed: the count depends on nothing else.
    outbox = QueuedOutbox(record_every=timedelta(hours=1))
    counts = []
    for size in (2, 12):
        WebhookSubscription.objects.update(is_active=False)  # the earlier one wants no more
        subscription = subscribe(admin, f"{receiver.base_url}/psa/{size}")
        rows = [row for row in record_events(size, first=size) if row.subscription == subscription]
        with CaptureQueriesContext(connection) as queries:
            states = outbox.deliver_batch(subscription.pk)
        assert states == {row.pk: "delivered" for row in rows}
        # Savepoints: the test's transaction turns each atomic block into one.
        statements = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
        counts.append(len(statements))
    # Claim (select, update, read), record (held, logged, attempts, rows, subscription health).
    assert counts == [8, 8]


class _KeepAliveHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        with self.server.lock:
            self.server.requests.append((self.client_address, self.headers["webhook-id"]))
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format, *args):
        pass


@pytest.fixture
def keep_alive_receiver():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _KeepAliveHandler)
    server.daemon_threads = True
    server.requests, server.lock = [], threading.Lock()
    with serving(server):
        yield server


def test_a_batch_goes_over_one_kept_alive_connection(admin, keep_alive_receiver):
    host, port = keep_alive_receiver.server_address[:2]
    subscription = subscribe(admin, f"http://{host}:{port}/hook")
    rows = record_events(6)

    assert delivery.deliver_batch(subscription.pk) == {row.pk: "delivered" for row in rows}

    requests = keep_alive_receiver.requests
    assert [message_id for _client, message_id in requests] == [row.message_id for row in rows]
    assert len({client for client, _message_id in requests}) == 1  # one connection for all six


def test_a_burst_is_queued_as_a_task_per_batch_of_each_subscription(admin, receiver):
    first = subscribe(admin, f"{receiver.base_url}/psa/1")
    second = subscribe(admin, f"{receiver.base_url}/psa/2")
    rows = record_events(3)  # three for each subscription
    outbox = QueuedOutbox(batch_size=2)

    outbox.queue([row.pk for row in rows])

    # Two batches each, so two workers can share a subscription's burst.
    assert sorted(outbox.queued) == sorted([first.pk, first.pk, second.pk, second.pk])
