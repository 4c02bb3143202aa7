"""A worker process keeps its database session from task to task (Django's rules close it:
``partnerportal.celery``). Celery's own rule closed it around every task, so each delivery began
by opening a new PostgreSQL session before it could claim its row."""

import uuid

import pytest
from django.conf import settings
from django.db import connection

from core.models import WorkerHeartbeat
from core.tasks import heartbeat
from tests.fault.helpers import Worker
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

TASKS = 20


def worker_sessions():
    """The process ids of the other client sessions on this test's database: the worker's."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
        )
        return {pid for (pid,) in cursor.fetchall()}


def run_heartbeat(queue):
    """One task through the worker on ``queue``: it writes the queue's heartbeat row."""
    seen = WorkerHeartbeat.objects.filter(queue=queue).values_list("last_seen", flat=True)
    before = seen.first()
    heartbeat.apply_async(args=[queue], queue=queue)
    wait_until(lambda: seen.first() != before, timeout=30, interval=0.01, message="no heartbeat")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="reads pg_stat_activity")
def test_a_worker_runs_its_tasks_over_the_sessions_it_opened(tmp_path):
    # A queue of its own: no other test's message reaches this worker.
    queue = f"sessions-{uuid.uuid4().hex[:8]}"
    worker = Worker(settings.CELERY_BROKER_URL, tmp_path, queue=queue)
    worker.start()
    try:
        worker.wait_ready()
        run_heartbeat(queue)
        opened = worker_sessions()
        for _ in range(TASKS):
            run_heartbeat(queue)
        kept = worker_sessions()
        # Still open after its task, and the same ones after twenty more: the second pool
        # process opens one of its own when it first takes a task.
        assert opened
        assert opened <= kept
        assert len(kept) <= 2
    finally:
        worker.stop()
