from django.test import Client
from django.urls import reverse
from django.utils import timezone

from core import health


def test_healthz_reports_each_dependency(db):
    health.record_heartbeat("feeds")
    response = Client().get(reverse("core:healthz"))
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert {"database", "cache", "broker"} <= set(body["checks"])
    assert all(check["ok"] for check in body["checks"].values())
    assert body["workers"]["feeds"]["ok"] is True
    assert body["workers"]["escalations"] == {"ok": False, "detail": "no heartbeat yet"}
    assert response["Cache-Control"].startswith("max-age=0")


def test_healthz_answers_503_when_the_broker_is_unreachable(db, monkeypatch):
    from partnerportal.celery import app

    # A loopback port with nothing listening: refused at once.
    monkeypatch.setitem(app.conf, "broker_url", "redis://127.0.0.1:9/0")
    monkeypatch.setitem(app.conf, "broker_write_url", "redis://127.0.0.1:9/0")
    response = Client().get(reverse("core:healthz"))
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["broker"]["ok"] is False
    assert body["checks"]["database"]["ok"] is True


def test_a_stale_heartbeat_is_reported(db, settings):
    from core.models import WorkerHeartbeat

    WorkerHeartbeat.objects.create(
        queue="feeds", last_seen=timezone.now() - timezone.timedelta(minutes=10), hostname="w1"
    )
    status = health.worker_status()
    assert status["feeds"]["ok"] is False
    assert status["feeds"]["age_seconds"] > 500
