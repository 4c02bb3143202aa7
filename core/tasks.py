from celery import shared_task

from core import health


@shared_task
def heartbeat(queue):
    """Beat sends this to each queue; a worker running it proves the broker round trip works."""
    health.record_heartbeat(queue)
