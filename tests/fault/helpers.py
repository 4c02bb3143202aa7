"""What the fault tests share: a private Redis to kill, a cuttable proxy in front of PostgreSQL,
real worker and gunicorn subprocesses, and a loop that plays beat while waiting."""

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.core.mail.backends import filebased
from django.db import connection

from tests.waiting import poll_until, wait_until

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
        argv = [self.binary, "--bind", "127.0.0.1", "--port", str(self.port)]
        argv += ["--save", "", "--appendonly", "no", "--dir", str(self.dir)]
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def accepts():
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            except OSError:
                return False
            return True

        wait_until(accepts, timeout=10, interval=0.05, message="private redis did not start")

    def kill(self):
        self.process.kill()
        self.process.wait()

    def pause(self):
        """SIGSTOP: connections stay open and new ones are accepted, but nothing is answered,
        as with a hung server or a network that drops packets."""
        self.process.send_signal(signal.SIGSTOP)

    def resume(self):
        self.process.send_signal(signal.SIGCONT)


def database_url(host=None, port=None):
    """The test database's URL, optionally through another host and port (a proxy)."""
    db = settings.DATABASES["default"]
    if "postgresql" not in db["ENGINE"]:
        return f"sqlite:///{db['NAME']}"
    host, port = host or db["HOST"], port or db["PORT"]
    return f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{host}:{port}/{db['NAME']}"


# The portal's Celery command line, before the program (worker, beat) and its options.
CELERY = [sys.executable, "-m", "celery", "-A", "partnerportal"]


def portal_env(broker_url, database=None, **extra):
    """The environment of a portal process a fault test starts: this test run's database (or
    ``database``), the given broker, and ``extra``."""
    return {
        **os.environ,
        "DATABASE_URL": database or database_url(),
        "CELERY_BROKER_URL": broker_url,
        # The same VAR_DIR: in development the field-encryption key lives there.
        "VAR_DIR": str(settings.VAR_DIR),
        "LOG_LEVEL": "WARNING",
        **extra,
    }


def busy_web_env(broker_url, database=None):
    """A production-like web server's environment (DEBUG off) for a test whose one client sends
    many requests: rate limits are not what such a test is about."""
    return portal_env(
        broker_url,
        database,
        REDIS_URL=broker_url,
        DEBUG="false",
        API_THROTTLE_RATE="100000/min",
        API_SERVICE_REQUEST_CREATE_RATE="100000/min",
    )


class PostgresProxy:
    """A loopback TCP proxy in front of the test PostgreSQL that a test can cut and restore.

    ``cut()`` closes every proxied connection and stops listening, so new connections are
    refused: to the processes behind it, PostgreSQL has stopped. ``restore()`` listens again on
    the same port. Threads and stdlib sockets only.
    """

    def __init__(self, upstream_host, upstream_port):
        self.upstream = (upstream_host, int(upstream_port))
        self.port = free_port()
        self.connections = set()
        self.lock = threading.Lock()
        self.listener = None
        self.accepting = None

    def url(self):
        return database_url("127.0.0.1", self.port)

    def start(self):
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        listener.settimeout(0.2)
        self.listener, self.accepting = listener, threading.Event()
        self.accepting.set()
        threading.Thread(target=self._accept, args=(listener, self.accepting), daemon=True).start()

    restore = start

    def cut(self):
        self.accepting.clear()
        self.listener.close()
        with self.lock:
            doomed, self.connections = self.connections, set()
        _close(*doomed)

    def stop(self):
        if self.accepting is not None and self.accepting.is_set():
            self.cut()

    def _accept(self, listener, accepting):
        while accepting.is_set():
            try:
                client, _address = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed by cut()
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                _close(client)
                continue
            client.settimeout(None)
            upstream.settimeout(None)
            with self.lock:
                if not accepting.is_set():
                    _close(client, upstream)
                    continue
                self.connections |= {client, upstream}
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source, target):
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            with self.lock:
                self.connections -= {source, target}
            _close(source, target)


def _close(*sockets):
    for sock in sockets:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()


def stop_group(process):
    """SIGTERM to a running ``process``'s group (started with ``start_new_session``), SIGKILL
    when it has not ended within 15 s."""
    if process and process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


class Gunicorn:
    """The portal served by gunicorn on a free loopback port, as in production (DEBUG off)."""

    def __init__(self, tmp_path, env, workers=2):
        self.port = free_port()
        self.env = {**os.environ, **env}
        self.workers = workers
        self.process = None
        self.log_path = tmp_path / "gunicorn.log"

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "partnerportal.wsgi:application",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(self.workers),
                "--timeout",
                "30",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=self.env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=self.log_path.open("ab"),
        )

        def answers_or_exited():
            # An exited gunicorn never answers: stop waiting.
            if self.process.poll() is not None:
                return "exited"
            try:
                urllib.request.urlopen(self.url + "/healthz", timeout=2).close()
            except urllib.error.HTTPError:
                return "up"  # it answers (503: a check is red), so it is up
            except OSError:
                return None
            return "up"

        if poll_until(answers_or_exited, timeout=60, interval=0.2) != "up":
            self.stop()
            pytest.fail(f"gunicorn did not start:\n{self.log_path.read_text()[-3000:]}")

    def stop(self):
        stop_group(self.process)


class Worker:
    def __init__(
        self, broker_url, tmp_path, queue="escalations", database=None, env=None, name=None
    ):
        self.env = portal_env(
            broker_url, database, DELIVERY_LEASE_SECONDS=str(LEASE_SECONDS), **(env or {})
        )
        self.queue = queue
        # Two workers on one host need their own node names: replies to inspect() are by name.
        self.name = name
        self.process = None
        self.kills = 0
        self.child_kills = 0
        self.log_path = tmp_path / f"{name or 'worker'}.log"

    def start(self):
        self.process = subprocess.Popen(
            [
                *CELERY,
                "worker",
                "-Q",
                self.queue,
                "--concurrency",
                "2",
                "--loglevel",
                "WARNING",
                "--without-heartbeat",
                "--without-mingle",
                "--without-gossip",
                *(["--hostname", f"{self.name}@%h"] if self.name else []),
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

    def children(self):
        """The pool's processes: the main process's children, whichever thread forked them."""
        pid = self.process.pid
        found = []
        for task in Path(f"/proc/{pid}/task").glob("*"):
            with contextlib.suppress(OSError):
                found += [int(child) for child in (task / "children").read_text().split()]
        return found

    def wait_ready(self, timeout=60):
        """Until the worker answers a ping: its consumer is running. (Celery exits with "Could
        not start worker processes" if a pool process dies before then; a supervisor restarts
        it, as docker-compose's ``restart: unless-stopped`` does.)"""
        from partnerportal.celery import app

        def answers_or_exited():
            # An exited worker never answers: stop waiting.
            if self.process.poll() is not None:
                return "exited"
            return "up" if app.control.ping(timeout=0.5) else None

        # No pause between pings: each waits half a second for replies.
        if poll_until(answers_or_exited, timeout=timeout, interval=0) != "up":
            pytest.fail(f"the worker did not come up:\n{self.log_path.read_text()[-3000:]}")

    def kill_child(self):
        """SIGKILL one pool process, as the kernel's OOM killer would; the main process lives on
        and forks a replacement. Returns the pid killed."""
        self.wait_ready()
        children = self.children()
        assert children, self.log_path.read_text()[-3000:]
        victim = random.choice(children)
        with contextlib.suppress(ProcessLookupError):  # it may have just been replaced
            os.kill(victim, signal.SIGKILL)
        self.child_kills += 1
        return victim

    def terminate(self, timeout=60):
        """SIGTERM to the main process only, as ``docker stop`` does: a warm shutdown."""
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=timeout)

    def stop(self):
        stop_group(self.process)


class Beat:
    """``celery beat`` on settings.CELERY_BEAT_SCHEDULE, with its own schedule file (beat keeps
    its state there, never in the database: two beats by mistake do not see each other). Logs
    at INFO, so ``sent(entry)`` can count the ticks it sent."""

    def __init__(self, broker_url, tmp_path, name="beat", env=None):
        self.env = portal_env(broker_url, **(env or {}))
        self.schedule_path = tmp_path / f"{name}-schedule"
        self.log_path = tmp_path / f"{name}.log"
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            [
                *CELERY,
                "beat",
                "--schedule",
                str(self.schedule_path),
                "--loglevel",
                "INFO",
            ],
            cwd=ROOT,
            env=self.env,
            start_new_session=True,  # its own process group, stopped as one
            stdout=subprocess.DEVNULL,
            stderr=self.log_path.open("ab"),
        )

    def sent(self, entry):
        """How many times this beat has sent the schedule entry ``entry`` (its name)."""
        if not self.log_path.exists():
            return 0
        return self.log_path.read_text().count(f"Sending due task {entry} (")

    def stop(self):
        stop_group(self.process)


class FileEmailBackend(filebased.EmailBackend):
    """Django's file email backend, writing to ``FAULT_EMAIL_DIR``: a worker subprocess is
    configured by its environment, and the portal's settings have no ``EMAIL_FILE_PATH``. The
    worker loads it by name (``EMAIL_BACKEND=tests.fault.helpers.FileEmailBackend``)."""

    def __init__(self, *args, file_path=None, **kwargs):
        super().__init__(*args, file_path=file_path or os.environ["FAULT_EMAIL_DIR"], **kwargs)


def open_requests(count, customers, title="Fault test", description="Opened during a fault."):
    """Opens ``count`` service requests as the portal's pages do, for ``customers`` in turn."""
    from servicerequests import services
    from tests.servicerequests.helpers import topic

    return [
        services.open_service_request(
            actor=None,
            title=f"{title} {n}",
            description=description,
            severity="moderate",
            support_topic=topic("technical"),
            customer=customers[n % len(customers)],
            contact_name="Test Contact",
            contact_email="contact@customer.example",
        )
        for n in range(count)
    ]


def kill_repeatedly(worker, times, interval=(0.8, 2.0)):
    """SIGKILL ``worker``'s process group ``times`` times, at random ``interval`` seconds apart,
    restarting it each time: deliveries in flight are cut between claim and record."""
    for _ in range(times):
        time.sleep(random.uniform(*interval))
        worker.kill()
        worker.start()


def with_redis_restarted_empty(private_broker, write):
    """Kill Redis, run ``write()`` (it commits while nothing can be queued), start Redis again
    empty: every message published before is gone too. Returns what ``write`` returned."""
    private_broker.kill()
    written = write()
    private_broker.start()
    return written


def wait_for(condition, timeout, sweep, sweep_every=1.0):
    """Whether ``condition()`` held within ``timeout`` seconds, running ``sweep()`` meanwhile.

    Returns rather than fails: the fault tests print what they measured before asserting."""

    def holds_else_sweep():
        if condition():
            return True
        sweep()  # what beat does every 15 s
        connection.close()
        return False

    return poll_until(holds_else_sweep, timeout=timeout, interval=sweep_every)


# --- both outboxes ------------------------------------------------------------------------------
# Each service request opened goes out through both outboxes: its escalation (a ``Delivery`` to
# the channel) and, through a subscription to ``servicerequest.created``, a webhook (a
# ``WebhookDelivery`` to the PSA receiver, which drops repeats of a ``webhook-id``). The fault
# tests count both.

BOTH_QUEUES = "escalations,webhooks"


def wait_until_all_delivered(deliveries, expected, sweep):
    """Whether ``expected`` of ``deliveries`` (a model's manager) came to be delivered within a
    lease and 90 seconds, sweeping meanwhile with ``sweep``."""
    return wait_for(
        lambda: deliveries.filter(state="delivered").count() == expected,
        timeout=LEASE_SECONDS + 90,
        sweep=sweep,
    )


def subscribe_to_opened_requests(psa_receiver, actor):
    """A webhook subscription that sends every opened service request to ``psa_receiver``."""
    from core.models import EventTypeChoices
    from integrations import services
    from tests.integrations.helpers import SECRET

    subscription, _secret = services.create_subscription(
        actor=actor,
        data={
            "name": "PSA for the fault test",
            "target_url": f"{psa_receiver.base_url}/psa",
            "event_types": [EventTypeChoices.SERVICE_REQUEST_CREATED],
        },
        secret=SECRET,
    )
    return subscription


def sweep_both():
    """What beat does every 15 s for both outboxes (and the fan-out of events it missed)."""
    from integrations import tasks
    from servicerequests import delivery

    delivery.sweep()
    tasks.sweep_webhook_deliveries()


def delivered_counts():
    """``(escalations, webhooks)`` delivered so far."""
    from integrations.models import WebhookDelivery
    from servicerequests.models import Delivery

    return (
        Delivery.objects.filter(state="delivered").count(),
        WebhookDelivery.objects.filter(state="delivered").count(),
    )


def webhook_summary(psa_receiver):
    """The webhook outbox's figures for a fault test's JSON line: rows by state, what the PSA
    received (raw) and what it kept (one ticket per ``webhook-id``)."""
    from django.db.models import Count

    from integrations.models import WebhookDelivery

    raw, distinct = len(psa_receiver.deliveries), len(psa_receiver.tickets)
    return {
        "webhook_states": dict(
            WebhookDelivery.objects.values_list("state").annotate(n=Count("pk")).order_by()
        ),
        "webhook_raw_duplicates": raw - distinct,
        "webhook_distinct_effects": distinct,
    }


def assert_webhooks_once(psa_receiver, expected):
    """Every opened request reached the PSA as one validly signed webhook, none in flight."""
    from integrations.models import WebhookDelivery

    states = list(WebhookDelivery.objects.values_list("state", flat=True))
    assert states == ["delivered"] * expected, webhook_summary(psa_receiver)
    ids = set(WebhookDelivery.objects.values_list("message_id", flat=True))
    assert {d.headers.get("webhook-id") for d in psa_receiver.verified} == ids
    assert len(psa_receiver.tickets) == expected
    assert len(psa_receiver.verified) == len(psa_receiver.deliveries)
