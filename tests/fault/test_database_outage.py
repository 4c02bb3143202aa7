"""R4: PostgreSQL goes away for 30 s while the API is in use and a feed poll is in flight.

The system under test runs as real subprocesses whose database is reached through a loopback
proxy (``PostgresProxy``): gunicorn serving the portal (DEBUG off, as in production) and a Celery
worker on the feeds and escalations queues. ``cut()`` closes every connection and refuses new
ones, which is what the processes see when PostgreSQL stops; ``restore()`` lets them in again.
This test process reaches PostgreSQL directly, for setup, assertions and the delivery sweep it
plays instead of beat (beat keeps its schedule in a file: it never touches the database).

A client thread keeps listing incidents and opening service requests through the API the whole
time. During the cut every answer must be a 503 with the generic body (never a 500, a traceback
or the driver's message); afterwards, with the same gunicorn and worker processes, answers are
200/201 again, every 201 is delivered to the channel exactly once in effect, and as a webhook to
a PSA receiver exactly once in effect (both outboxes), the interrupted poll
wrote nothing and the source shows it failed, and the next poll gives exactly the clean result.
Latency is printed, not asserted.
"""

import json
import statistics
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import requests
from django.conf import settings
from django.utils import timezone

from accounts.roles import Role
from core.models import Event
from incidents.models import AffectedCustomer, Incident, IncidentPost
from servicehealth import polling
from servicehealth.models import FeedSource, TenantServiceHealth
from servicehealth.tasks import poll_source
from servicerequests.models import Delivery, ServiceRequest
from tests.customers.factories import CustomerFactory
from tests.fault.helpers import (
    BOTH_QUEUES,
    LEASE_SECONDS,
    Gunicorn,
    PostgresProxy,
    Worker,
    assert_webhooks_once,
    busy_web_env,
    delivered_counts,
    sweep_both,
    wait_for,
    webhook_summary,
)
from tests.servicerequests.helpers import topic

pytestmark = [pytest.mark.fault, pytest.mark.django_db(transaction=True)]

OUTAGE_SECONDS = 30
# The feed's first answer is held back this long: the poll is mid-read when the cut comes, and
# writes (or tries to) while the database is still away.
POLL_HOLD_SECONDS = min(4, OUTAGE_SECONDS / 3)
GENERIC_503 = {
    "type": "server_error",
    "errors": [
        {
            "code": "service_unavailable",
            "detail": "Temporarily unavailable; try again shortly.",
            "attr": None,
        }
    ],
}
FEED_PATH = "/v1.0/admin/serviceAnnouncement/"
ISSUE_ID = "EX400001"


@dataclass
class Answer:
    method: str
    started: float
    ended: float
    status: int
    body: str
    retry_after: str | None
    title: str | None = None


class ApiLoad(threading.Thread):
    """Lists incidents and opens a service request, over and over, until stopped."""

    def __init__(self, base_url, token, customer, topic_pk):
        super().__init__(daemon=True)
        self.base_url, self.customer, self.topic_pk = base_url, customer, topic_pk
        self.headers = {"Authorization": f"Bearer {token}"}
        self.answers = []
        self.stopping = threading.Event()

    def run(self):
        n = 0
        while not self.stopping.is_set():
            n += 1
            self._call("GET", "/api/v1/incidents/")
            title = f"Opened while PostgreSQL comes and goes {n}"
            self._call(
                "POST",
                "/api/v1/service-requests/",
                title=title,
                json={
                    "title": title,
                    "description": "The database may be away.",
                    "severity": "moderate",
                    "support_topic": self.topic_pk,
                    "customer": str(self.customer.tenant_id),
                    "primary_contact": {"name": "Pat", "email": "pat@customer.example"},
                },
            )
            self.stopping.wait(0.2)

    def _call(self, method, path, title=None, **kwargs):
        started = time.monotonic()
        try:
            response = requests.request(
                method, self.base_url + path, headers=self.headers, timeout=(5, 20), **kwargs
            )
            status, body = response.status_code, response.text
            retry_after = response.headers.get("Retry-After")
        except requests.RequestException as exc:  # no answer at all: counted, never expected
            status, body, retry_after = 0, type(exc).__name__, None
        self.answers.append(
            Answer(method, started, time.monotonic(), status, body, retry_after, title)
        )


def test_a_database_outage_answers_503_loses_nothing_and_shows_the_interrupted_poll(
    private_broker,
    webhook_receiver,
    psa_receiver,
    both_outboxes,
    service_health_simulator,
    api_token_for,
    cast,
    tmp_path,
):
    # ``cast`` re-applies the role matrix: an earlier transactional test flushed the roles, and
    # a token of a role with no permissions gets 404 everywhere.
    simulator, add_source = service_health_simulator
    customer = CustomerFactory()
    source = add_source(customer)
    simulator.add_issue(
        ISSUE_ID,
        service_id="Exchange",
        title="Mail delivery is delayed",
        impact_description="Users may see delays sending email.",
        steps=[
            (datetime.now(UTC) - timedelta(hours=1), "serviceDegradation", "Investigating."),
            (datetime.now(UTC) - timedelta(minutes=30), "serviceDegradation", "Mitigating."),
        ],
        tenant_ids=[str(customer.tenant_id)],
    )
    token = api_token_for(Role.HELPDESK_AGENT)
    db = settings.DATABASES["default"]
    proxy = PostgresProxy(db["HOST"] or "127.0.0.1", db["PORT"] or 5432)
    proxy.start()
    web = Gunicorn(tmp_path, busy_web_env(private_broker.url, database=proxy.url()))
    worker = Worker(
        private_broker.url,
        tmp_path,
        queue=f"feeds,{BOTH_QUEUES}",
        database=proxy.url(),
        env={"REDIS_URL": private_broker.url},
    )
    load = ApiLoad(web.url, token, customer, topic("technical").pk)
    try:
        web.start()
        worker.start()
        web_pid, worker_pid = web.process.pid, worker.process.pid
        load.start()
        assert wait_for(lambda: _ok_posts(load) >= 3, timeout=30, sweep=lambda: None), _statuses(
            load.answers
        )

        # A poll in flight: claimed, reading the feed (held back) when PostgreSQL goes away.
        simulator.fail_next(FEED_PATH, 200, delay=POLL_HOLD_SECONDS)
        poll_source.delay(source.pk)
        assert wait_for(
            lambda: any(r[0] == "GET" and r[1].startswith(FEED_PATH) for r in simulator.requests),
            timeout=30,
            sweep=lambda: None,
            sweep_every=0.05,
        ), worker.log_path.read_text()[-3000:]
        cut_at = time.monotonic()
        proxy.cut()
        time.sleep(OUTAGE_SECONDS)
        # Still away: the poll has failed, but nothing could be recorded yet.
        held = FeedSource.objects.get(pk=source.pk)
        assert held.lease_until is not None and held.last_error == ""
        restored_at = time.monotonic()
        proxy.restore()

        # The worker records the interrupted poll as soon as the database answers again.
        failure_shown = wait_for(
            lambda: FeedSource.objects.get(pk=source.pk).last_error == polling.INTERRUPTED,
            timeout=60,
            sweep=lambda: None,
            sweep_every=0.5,
        )
        failure_shown_after = time.monotonic() - restored_at
        # The interrupted poll wrote nothing.
        written = {
            "incidents": Incident.objects.count(),
            "posts": IncidentPost.objects.count(),
            "links": AffectedCustomer.objects.count(),
            "health": TenantServiceHealth.objects.count(),
            "incident_events": Event.objects.filter(type__startswith="incident.").count(),
        }
        interrupted = FeedSource.objects.get(pk=source.pk)

        assert wait_for(
            lambda: _ok_posts(load, after=restored_at) >= 5, timeout=60, sweep=lambda: None
        ), _statuses(load.answers)
        load.stopping.set()
        load.join(timeout=30)

        accepted = {a.title for a in load.answers if a.method == "POST" and a.status == 201}

        def all_escalated_and_sent_as_webhooks():
            opened = ServiceRequest.objects.count()
            return opened >= len(accepted) and delivered_counts() == (opened, opened)

        all_delivered = wait_for(
            all_escalated_and_sent_as_webhooks, timeout=LEASE_SECONDS + 60, sweep=sweep_both
        )

        # The next poll, by the same worker, gives exactly the clean result.
        FeedSource.objects.filter(pk=source.pk).update(next_poll_at=timezone.now())
        poll_source.delay(source.pk)
        next_poll_ok = wait_for(
            lambda: FeedSource.objects.get(pk=source.pk).last_success_at is not None,
            timeout=60,
            sweep=lambda: None,
            sweep_every=0.5,
        )
        same_processes = (
            web.process.poll() is None
            and worker.process.poll() is None
            and (web.process.pid, worker.process.pid) == (web_pid, worker_pid)
        )
    finally:
        load.stopping.set()
        worker.stop()
        web.stop()
        proxy.stop()

    during = [a for a in load.answers if a.started >= cut_at and a.ended <= restored_at]
    straddling = [
        a
        for a in load.answers
        if a not in during and (a.started < cut_at < a.ended or a.started < restored_at < a.ended)
    ]
    after = [a for a in load.answers if a.started >= restored_at]
    first_ok_after = min((a.ended for a in after if a.status in (200, 201)), default=None)
    seconds = sorted(a.ended - a.started for a in during) or [0.0]
    tickets = webhook_receiver.tickets
    ticket_titles = [t.payload["title"] for t in tickets.values()]
    raw = len(webhook_receiver.deliveries)
    print(
        json.dumps(
            {
                "sent": len(accepted),
                "delivered": Delivery.objects.filter(state="delivered").count(),
                "raw_duplicates": raw - len(tickets),
                "distinct_effects": len(tickets),
                **webhook_summary(psa_receiver),
                "answers_during_outage": len(during),
                "statuses_during_outage": _statuses(during),
                "p50_ms_during_outage": round(statistics.median(seconds) * 1000, 1),
                "p95_ms_during_outage": round(seconds[int(len(seconds) * 0.95) - 1] * 1000, 1),
                "recovery_seconds": round(first_ok_after - restored_at, 2)
                if first_ok_after
                else None,
                "failure_shown_seconds": round(failure_shown_after, 1),
                "outage_seconds": OUTAGE_SECONDS,
                "restarts": 0 if same_processes else "restarted",
            }
        )
    )
    web_log = web.log_path.read_text()
    # During the cut: nothing but the generic 503, with Retry-After.
    assert len(during) >= 10, _statuses(load.answers)
    wrong = [a for a in during if a.status != 503 or json.loads(a.body) != GENERIC_503]
    assert wrong == [], [(a.method, a.status, a.body[:300]) for a in wrong[:5]]
    assert all(a.retry_after for a in during)
    assert all(a.status in (200, 201, 503) for a in straddling), _statuses(straddling)
    assert all(a.status in (200, 201) for a in after), _statuses(after)
    assert not any(a.status == 201 for a in during)
    assert "Traceback" not in web_log and "psycopg2" not in web_log, web_log[-3000:]
    # Workers recovered without a restart; nothing lost, nothing done twice in effect.
    assert same_processes
    assert all_delivered, (
        Delivery.objects.values_list("state", flat=True),
        worker.log_path.read_text()[-3000:],
    )
    assert accepted <= set(ticket_titles)
    assert len(tickets) == len(set(ticket_titles)) == ServiceRequest.objects.count()
    assert_webhooks_once(psa_receiver, ServiceRequest.objects.count())
    # The interrupted poll wrote nothing and was shown as failed.
    assert failure_shown, (interrupted.last_error, worker.log_path.read_text()[-3000:])
    assert written == dict.fromkeys(written, 0)
    assert interrupted.lease_until is None and interrupted.issues_watermark is None
    assert interrupted.consecutive_failures == 1
    # The next poll gives exactly the clean result.
    assert next_poll_ok, worker.log_path.read_text()[-3000:]
    source.refresh_from_db()
    assert source.last_error == "" and source.consecutive_failures == 0
    incident = Incident.objects.get()
    assert incident.microsoft_id == ISSUE_ID and incident.status == "serviceDegradation"
    assert incident.posts.count() == 2
    assert list(AffectedCustomer.objects.values_list("customer_id", flat=True)) == [customer.pk]
    assert Event.objects.filter(type="incident.created").count() == 1
    assert source.issues_watermark == incident.last_modified_at


def _ok_posts(load, after=0.0):
    return sum(
        1 for a in load.answers if a.method == "POST" and a.status == 201 and a.started >= after
    )


def _statuses(answers):
    counts = {}
    for answer in answers:
        key = f"{answer.method} {answer.status}"
        counts[key] = counts.get(key, 0) + 1
    return counts
