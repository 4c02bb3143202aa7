"""The Celery app's configuration, and a real round trip through Redis and a worker."""

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings

from core.models import WorkerHeartbeat
from core.tasks import heartbeat
from partnerportal.celery import app
from tests.waiting import wait_until


def route_of(task_name):
    return app.amqp.router.route({}, task_name)["queue"].name


def test_tasks_are_routed_by_module():
    assert route_of("servicehealth.tasks.poll_source") == "feeds"
    assert route_of("customers.tasks.sync_gdap") == "feeds"
    assert route_of("servicerequests.tasks.deliver") == "escalations"
    assert route_of("integrations.tasks.deliver") == "webhooks"
    assert {queue.name for queue in app.conf.task_queues} == {"feeds", "escalations", "webhooks"}


def test_idempotent_tasks_are_acknowledged_late_with_time_limits():
    conf = app.conf
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert 0 < conf.task_soft_time_limit < conf.task_time_limit
    # A countdown or backoff beyond the visibility timeout would be re-delivered in a loop.
    assert settings.CELERY_VISIBILITY_TIMEOUT == 15 * 60


def test_the_beat_schedule_is_in_settings():
    app.autodiscover_tasks(force=True)  # what a worker does at start
    schedule = settings.CELERY_BEAT_SCHEDULE
    assert schedule["heartbeat-feeds"]["options"]["queue"] == "feeds"
    assert schedule["heartbeat-escalations"]["options"]["queue"] == "escalations"
    for entry in schedule.values():
        assert entry["task"] in app.tasks


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_a_task_sent_through_redis(redis_url):
    assert app.conf.broker_url.startswith("redis://")
    with start_worker(
        app,
        pool="solo",
        perform_ping_check=False,
        queues=["feeds", "escalations"],
        loglevel="WARNING",
    ):
        heartbeat.apply_async(args=["escalations"], queue="escalations")
        wait_until(
            WorkerHeartbeat.objects.filter(queue="escalations").exists,
            timeout=20,
            message="the worker ran no heartbeat",
        )
    beat = WorkerHeartbeat.objects.get(queue="escalations")
    assert beat.hostname
