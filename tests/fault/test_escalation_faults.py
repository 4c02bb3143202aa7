"""Escalations survive a worker killed with SIGKILL again and again, and a Redis that is down.

A real Celery worker subprocess delivers to the webhook receiver (which honours the
idempotency key) through a private Redis that this test starts, kills and restarts on a
loopback port of its own. The test itself plays beat: it runs the delivery sweep every second.
Prints a one-line JSON summary.
"""

import json
import random
import re
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.db import connection
from django.db.models import Count, Q

from accounts.roles import Role
from servicerequests import delivery
from servicerequests.models import (
    Channel,
    Delivery,
    RoutingRule,
    TimelineEntry,
    TimelineKindChoices,
)
from tests.customers.factories import CustomerFactory
from tests.fault.helpers import (
    LEASE_SECONDS,
    Gunicorn,
    Worker,
    busy_web_env,
    kill_repeatedly,
    open_requests,
    wait_for,
    wait_until_all_delivered,
    with_redis_restarted_empty,
)
from tests.servicerequests.helpers import channel, deliver_only_to, receiver_channel, topic

pytestmark = [pytest.mark.fault, pytest.mark.django_db(transaction=True)]


def test_no_request_is_lost_or_delivered_twice_when_workers_die_and_redis_restarts(
    private_broker, webhook_receiver, tmp_path
):
    webhook_receiver.latency = (0.05, 0.3)
    deliver_only_to(webhook_receiver)
    customers = [CustomerFactory() for _ in range(5)]
    worker = Worker(private_broker.url, tmp_path)
    started = time.monotonic()
    try:
        worker.start()
        # Part 1: 60 requests while the worker is SIGKILLed five times mid-delivery.
        first = open_requests(60, customers)
        kill_repeatedly(worker, 5)
        # Part 2: Redis dies (and comes back empty) while 10 more requests are opened.
        second = with_redis_restarted_empty(private_broker, lambda: open_requests(10, customers))
        assert Delivery.objects.filter(service_request__in=second).count() == 10  # committed
        expected = len(first) + len(second)
        all_delivered = wait_until_all_delivered(Delivery.objects, expected, delivery.sweep)
        recovery = time.monotonic() - started
    finally:
        worker.stop()
    states = dict(Delivery.objects.values_list("state").annotate(n=Count("pk")))
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


# R1 at CI size (``--fault-scale 1``); ``--fault-scale 5`` is R1's full size.
R1_CHANNELS = {"critical": "webhook", "moderate": "partner_center", "minimal": "email"}
OPEN_RATE = 20  # requests opened per second


def r1_sizes(scale):
    """Requests, process-group kills, single-child kills and the (min, max) seconds between
    group kills: 100, 4, 4, (1, 3) at scale 1; 500, 10, 10, (2, 8) at scale 5."""
    kills = max(1, round(4 + 1.5 * (scale - 1)))
    low = max(0.5, 1 + 0.25 * (scale - 1))
    return (
        max(1, round(100 * scale)),
        kills,
        kills,
        (low, max(low + 0.5, 3 + 1.25 * (scale - 1))),
    )


class Opener(threading.Thread):
    """Opens ``count`` service requests through the API at about ``OPEN_RATE`` a second,
    cycling through the severities so every channel gets its share."""

    def __init__(self, base_url, token, customers, topic_pk, count):
        super().__init__(daemon=True)
        self.base_url, self.customers, self.topic_pk, self.count = (
            base_url,
            customers,
            topic_pk,
            count,
        )
        self.headers = {"Authorization": f"Bearer {token}"}
        self.answers = []  # (severity, status, body)
        self.seconds = self.ended = None

    def run(self):
        started = time.monotonic()
        # A few in flight at once, so one slow answer does not hold back the rate.
        with ThreadPoolExecutor(max_workers=4) as pool:
            for n in range(self.count):
                time.sleep(max(0.0, started + n / OPEN_RATE - time.monotonic()))
                pool.submit(self._open, n)
        self.ended = time.monotonic()
        self.seconds = self.ended - started

    def _open(self, n):
        severities = list(R1_CHANNELS)
        severity = severities[n % len(severities)]
        try:
            response = requests.post(
                self.base_url + "/api/v1/service-requests/",
                headers=self.headers,
                json={
                    "title": f"R1 request {n}",
                    "description": "Opened while the escalations worker is being killed.",
                    "severity": severity,
                    "support_topic": self.topic_pk,
                    "customer": str(self.customers[n % len(self.customers)].tenant_id),
                    "primary_contact": {"name": "Pat", "email": "pat@customer.example"},
                },
                timeout=(5, 30),
            )
            status, body = response.status_code, response.text
        except requests.RequestException as exc:  # no answer: counted, never expected
            status, body = 0, type(exc).__name__
        self.answers.append((severity, status, body))


def play_beat(seconds):
    """Wait ``seconds``, running the delivery sweep every second as beat would."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        delivery.sweep()
        connection.close()
        time.sleep(min(1.0, left))


def emailed_keys(mail_dir):
    """``X-Idempotency-Key`` of every message the file email backend wrote, repeats included."""
    keys = []
    for path in sorted(mail_dir.glob("*.log")):
        keys += re.findall(rb"^X-Idempotency-Key: (\S+)$", path.read_bytes(), re.MULTILINE)
    return [key.decode() for key in keys]


def test_r1_requests_opened_through_the_api_survive_worker_and_child_kills_on_three_channels(
    private_broker,
    webhook_receiver,
    partner_center_simulator,
    api_token_for,
    cast,
    fault_scale,
    tmp_path,
):
    # ``cast`` re-applies the role matrix (an earlier transactional test flushed the roles).
    count, group_kills, child_kills, interval = r1_sizes(fault_scale)
    print(
        json.dumps(
            {
                "scale": fault_scale,
                "requests": count,
                "group_kills": group_kills,
                "child_kills": child_kills,
                "interval_s": interval,
            }
        )
    )
    webhook_receiver.latency = (0, 0.5)
    # The Partner Center simulator has no latency knob: each create POST is held back by a
    # scripted delay, half before the request is carried out and half after (an answer a kill
    # can lose once the ticket exists). Spare entries cover re-sends.
    for _ in range(count * 2):
        partner_center_simulator.fail_next(
            "/v1/servicerequests/",
            200,
            delay=random.uniform(0, 0.5),
            method="POST",
            after=random.random() < 0.5,
        )
    mail_dir = tmp_path / "mail"
    targets = {
        "webhook": receiver_channel(webhook_receiver),
        "partner_center": channel(
            "partner_center",
            endpoint=partner_center_simulator.base_url,
            credentials={"access_token": "pc-test-token"},
        ),
        "email": channel("email", endpoint="escalations@partner.example"),
    }
    Channel.objects.exclude(pk__in=[c.pk for c in targets.values()]).update(enabled=False)
    for position, (severity, kind) in enumerate(R1_CHANNELS.items()):
        RoutingRule.objects.create(
            position=position,
            name=f"{severity} to {kind}",
            severity=severity,
            channel=targets[kind],
        )
    customers = [CustomerFactory() for _ in range(5)]
    token = api_token_for(Role.HELPDESK_AGENT)
    web = Gunicorn(tmp_path, busy_web_env(private_broker.url))  # one client opening 20 a second
    worker = Worker(
        private_broker.url,
        tmp_path,
        env={
            "EMAIL_BACKEND": "tests.fault.helpers.FileEmailBackend",
            "FAULT_EMAIL_DIR": str(mail_dir),
        },
    )
    opener = Opener(web.url, token, customers, topic("technical").pk, count)
    # Child kills spread over the group-kill intervals, at a random point inside each.
    child_kills_per_interval = [
        child_kills // group_kills + (1 if n < child_kills % group_kills else 0)
        for n in range(group_kills)
    ]
    survived = []
    try:
        web.start()
        worker.start()
        opener.start()
        for children in child_kills_per_interval:
            wait = random.uniform(*interval)
            marks = sorted(random.uniform(0, wait) for _ in range(children))
            waited = 0.0
            for mark in marks:
                play_beat(mark - waited)
                waited = mark
                worker.kill_child()
            play_beat(wait - waited)
            # The pool replaced its killed children: the worker itself is still running.
            survived.append(worker.process.poll() is None)
            worker.kill()
            worker.start()
        last_restart = time.monotonic()
        delivered_by_then = Delivery.objects.filter(state="delivered").count()
        opener.join(timeout=count / OPEN_RATE + 120)
        accepted = [body for _severity, status, body in opener.answers if status == 201]
        # R1: everything delivered within lease + 60 s of the last restart (or of the last
        # request, if the client was still opening them then).
        since = max(last_restart, opener.ended or time.monotonic())
        all_delivered = wait_for(
            lambda: Delivery.objects.filter(state="delivered").count() >= len(accepted),
            timeout=since + LEASE_SECONDS + 60 - time.monotonic(),
            sweep=delivery.sweep,
        )
        recovery = time.monotonic() - last_restart
    finally:
        worker.stop()
        web.stop()

    states = dict(Delivery.objects.values_list("state").annotate(n=Count("pk")))
    keys = {str(key) for key in Delivery.objects.values_list("idempotency_key", flat=True)}
    effects = {
        "webhook": {t.idempotency_key for t in webhook_receiver.tickets.values()},
        "partner_center": {
            key
            for sr in partner_center_simulator.created
            for key in sr.idempotency_keys
            if key in keys  # it sends the delivery key as MS-RequestId and Idempotency-Key
        },
        "email": set(emailed_keys(mail_dir)),
    }
    raw = {
        "webhook": len(webhook_receiver.deliveries),
        "partner_center": sum(
            1 for method, *_rest in partner_center_simulator.requests if method == "POST"
        ),
        "email": len(emailed_keys(mail_dir)),
    }
    distinct = sum(len(found) for found in effects.values())
    kills = worker.kills + worker.child_kills
    print(
        json.dumps(
            {
                "sent": len(accepted),
                "answers": dict(Counter(status for _severity, status, _body in opener.answers)),
                "open_rate_per_s": round(len(opener.answers) / opener.seconds, 1)
                if opener.seconds
                else None,
                "delivered": states.get("delivered", 0),
                "states": states,
                "raw_duplicates": sum(raw.values()) - distinct,
                "distinct_effects": {kind: len(found) for kind, found in effects.items()},
                "delivered_before_last_restart": delivered_by_then,
                # Claims whose outcome was never recorded: kills that hit a delivery in flight.
                "claims_lost_to_kills": sum(
                    row.attempts - row.logged
                    for row in Delivery.objects.annotate(logged=Count("attempt_log"))
                ),
                "group_kills": worker.kills,
                "child_kills": worker.child_kills,
                "seconds_from_last_restart_to_all_delivered": round(recovery, 1),
            }
        )
    )
    assert not opener.is_alive()
    assert all(survived), (survived, worker.log_path.read_text()[-3000:])
    assert [status for _severity, status, _body in opener.answers] == [201] * count, (
        Counter(status for _severity, status, _body in opener.answers),
        web.log_path.read_text()[-3000:],
    )
    # Routed by severity: every channel took its share.
    for severity, _status, body in opener.answers:
        assert json.loads(body)["channel"]["kind"] == R1_CHANNELS[severity]
    assert all_delivered, (states, worker.log_path.read_text()[-3000:])
    assert states == {"delivered": count}  # none left in sending, none failed
    # One ticket per request across the three channels: 0 lost, 0 duplicate effects.
    assert distinct == count
    assert set().union(*effects.values()) == keys
    per_channel = Counter(
        Delivery.objects.values_list("channel__kind", flat=True).order_by("channel__kind")
    )
    assert {kind: len(found) for kind, found in effects.items()} == dict(per_channel)
    # Every attempt recorded, and no more logged attempts than claims (a kill between claim and
    # record loses the attempt's outcome, never invents one). A claim whose lease ran out
    # mid-send may log a success too (same key: one ticket), but the row and the timeline are
    # written once, by the claim that held the row: the timeline names it.
    for row in Delivery.objects.annotate(
        logged=Count("attempt_log"),
        successes=Count("attempt_log", filter=Q(attempt_log__outcome="success")),
    ):
        assert row.successes >= 1, (row.pk, row.logged, row.attempts)
        assert 1 <= row.logged <= row.attempts, (row.pk, row.logged, row.attempts)
        delivered_entry = TimelineEntry.objects.get(
            service_request=row.service_request_id, kind=TimelineKindChoices.DELIVERED
        )
        assert delivered_entry.data["attempt"] == row.attempts
    # Raw re-sends happen only when a kill fell between "sent" and "recorded".
    assert sum(raw.values()) - distinct <= 2 * kills
