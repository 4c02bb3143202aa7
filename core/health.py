"""Reachability of what the portal depends on, for ``/healthz`` and operators."""

import socket
import time

from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from core.models import WorkerHeartbeat


def _timed(check):
    started = time.monotonic()
    try:
        detail = check()
        ok = True
    except Exception as exc:  # any failure means "not reachable"; the class name says why
        ok, detail = False, type(exc).__name__
    result = {"ok": ok, "ms": round((time.monotonic() - started) * 1000, 1)}
    if detail:
        result["detail"] = detail
    return result


def check_database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_cache():
    key = f"healthz:{socket.gethostname()}"
    cache.set(key, "ok", 10)
    if cache.get(key) != "ok":
        raise RuntimeError("cache did not return the value just stored")


def check_broker():
    with current_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


def worker_status():
    """Age of each queue's last heartbeat; informative, since web and workers scale separately."""
    now = timezone.now()
    seen = {beat.queue: beat for beat in WorkerHeartbeat.objects.all()}
    status = {}
    for queue in settings.CELERY_TASK_QUEUES_NAMES:
        beat = seen.get(queue)
        if beat is None:
            status[queue] = {"ok": False, "detail": "no heartbeat yet"}
            continue
        age = (now - beat.last_seen).total_seconds()
        status[queue] = {
            "ok": age <= settings.WORKER_HEARTBEAT_STALE_SECONDS,
            "last_seen": beat.last_seen.isoformat(),
            "age_seconds": round(age, 1),
        }
    return status


def overall():
    checks = {
        "database": _timed(check_database),
        "cache": _timed(check_cache),
        "broker": _timed(check_broker),
    }
    healthy = all(check["ok"] for check in checks.values())
    try:
        workers = worker_status()
    except Exception as exc:
        workers = {"ok": False, "detail": type(exc).__name__}
    return healthy, {
        "status": "ok" if healthy else "unavailable",
        "checks": checks,
        "workers": workers,
    }


def record_heartbeat(queue, hostname=""):
    WorkerHeartbeat.objects.update_or_create(
        queue=queue,
        defaults={"last_seen": timezone.now(), "hostname": hostname or socket.gethostname()},
    )
