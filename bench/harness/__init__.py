"""What the benchmarks share: Django set up in-process, private PostgreSQL and Redis, and the
Celery worker they measure. A package, so that `make bench` (every bench/*.py) does not run it."""

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import django

ROOT = Path(__file__).resolve().parents[2]


def setup_django(**environ):
    """Django in this process on a throwaway VAR_DIR (unless one is set), logging warnings only;
    ``environ``: more defaults for the environment, set before Django reads its settings."""
    os.environ.setdefault("VAR_DIR", tempfile.mkdtemp(prefix="portal-bench-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "partnerportal.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    # As in production: no query log, no debug pages (DEBUG=true makes a page ~15% slower).
    os.environ.setdefault("DEBUG", "false")
    for name, value in environ.items():
        os.environ.setdefault(name, value)
    django.setup()


def timed(client, path, requests):
    """The seconds each of ``requests`` GETs of ``path`` took, each answered 200."""
    durations = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(path)
        durations.append(time.perf_counter() - started)
        assert response.status_code == 200, (path, response.status_code)
    return durations


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_services():
    """Private PostgreSQL and Redis through scripts/services.sh, which DATABASE_URL, REDIS_URL
    and CELERY_BROKER_URL then name; returns (stop, the postmaster's pid file)."""
    env = {
        **os.environ,
        "SVC_DIR": tempfile.mkdtemp(prefix="portal-bench-svc-"),
        "SVC_PG_PORT": str(free_port()),
        "SVC_REDIS_PORT": str(free_port()),
        "SVC_DB_NAME": "bench",
    }

    def stop():
        subprocess.run(["bash", "scripts/services.sh", "clean"], cwd=ROOT, env=env, check=False)

    try:
        subprocess.run(["bash", "scripts/services.sh", "start"], cwd=ROOT, env=env, check=True)
    except BaseException:
        stop()
        raise
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:{env['SVC_PG_PORT']}/bench"
    os.environ["REDIS_URL"] = f"redis://127.0.0.1:{env['SVC_REDIS_PORT']}/0"
    os.environ["CELERY_BROKER_URL"] = os.environ["REDIS_URL"]
    return stop, Path(env["SVC_DIR"]) / "pg" / "data" / "postmaster.pid"


def start_worker(queue, concurrency, **popen):
    """A Celery worker process on ``queue`` with ``concurrency`` pool processes."""
    argv = [sys.executable, "-m", "celery", "-A", "partnerportal", "worker", "-Q", queue]
    argv += ["--concurrency", str(concurrency), "--loglevel", "WARNING"]
    return subprocess.Popen(argv, cwd=ROOT, **popen)


def celery_round_trips(queue, count=50):
    """The seconds each of ``count`` bare Celery round trips through the worker on ``queue``
    took: publish a task that writes one row (``core.tasks.heartbeat``), the worker runs it, this
    process sees the row change. Waits for the worker to be up first (at most a minute)."""
    from core.models import WorkerHeartbeat
    from core.tasks import heartbeat

    mark = f"bench-{queue}"
    last_seen = WorkerHeartbeat.objects.filter(queue=mark).values_list("last_seen", flat=True)
    deadline = time.monotonic() + 60
    while not last_seen.exists():
        heartbeat.apply_async(args=[mark], queue=queue)
        time.sleep(0.5)
        assert time.monotonic() < deadline, f"no Celery worker answers on {queue}"
    time.sleep(1)  # the messages sent while it started are run by now
    durations = []
    for _ in range(count):
        before = last_seen.first()
        started = time.perf_counter()
        heartbeat.apply_async(args=[mark], queue=queue)
        while last_seen.first() == before:
            time.sleep(0.002)
        durations.append(time.perf_counter() - started)
    return durations
