"""Escalations survive a worker killed with SIGKILL again and again, and a Redis that is down.

A real Celery worker subprocess delivers to the webhook receiver (which honours the
idempotency key) through a private Redis that this test starts, kills and restarts on a
loopback port of its own. The test itself plays beat: it runs the delivery sweep every second.
Prints a one-line JSON summary.
"""

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from servicerequests import delivery, services
from servicerequests.models import Channel, Delivery
from tests.customers.factories import CustomerFactory
from tests.servicerequests.helpers import channel, topic

pytestmark = [pytest.mark.fault, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
LEASE_SECONDS = 4


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateRedis:
    def __init__(self, tmp_path):
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is needed (make test installs it).")
        self.binary, self.port, self.dir, self.process = binary, free_port(), tmp_path, None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        self.process = subprocess.Popen(
            [
                self.binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        pytest.fail("private redis did not start")

    def kill(self):
        self.process.kill()
        self.process.wait()


class Worker:
    def __init__(self, broker_url, tmp_path):
        db = settings.DATABASES["default"]
        self.env = {
            **os.environ,
            "DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
            if "postgresql" in db["ENGINE"]
            else f"sqlite:///{db['NAME']}",
            "CELERY_BROKER_URL": broker_url,
            "DELIVERY_LEASE_SECONDS": str(LEASE_SECONDS),
            # The same VAR_DIR: in development the field-encryption key lives there.
            "VAR_DIR": str(settings.VAR_DIR),
            "LOG_LEVEL": "WARNING",
        }
        self.process = None
        self.kills = 0
        self.log_path = tmp_path / "worker.log"

    def start(self):
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "partnerportal",
                "worker",
                "-Q",
                "escalations",
                "--concurrency",
                "2",
                "--loglevel",
                "WARNING",
                "--without-heartbeat",
                "--without-mingle",
                "--without-gossip",
            ],
            cwd=ROOT,
            env=self.env,
            start_new_session=True,  # its own process group, so SIGKILL reaches the pool too
            stdout=subprocess.DEVNULL,
            stderr=self.log_path.open("ab"),
        )

    def kill(self):
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.kills += 1

    def stop(self):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)


@pytest.fixture
def private_broker(tmp_path):
    """Point this process's Celery app at a private Redis for the test's duration."""
    from partnerportal.celery import app

    redis = PrivateRedis(tmp_path)
    redis.start()

    def use_broker(url, write_url):
        app.conf.broker_url, app.conf.broker_write_url = url, write_url
        # Connections and producers are pooled: drop them so the next publish uses ``url``.
        app._pool = None
        app.amqp._producer_pool = None

    saved = (app.conf.broker_url, app.conf.broker_write_url)
    use_broker(redis.url, redis.url)
    yield redis
    use_broker(*saved)
    if redis.process.poll() is None:
        redis.kill()


def wait_for(condition, timeout, sweep_every=1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        delivery.sweep()  # what beat does every 15 s
        connection.close()
        time.sleep(sweep_every)
    return condition()


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
