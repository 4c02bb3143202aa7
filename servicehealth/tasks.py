import contextlib

from celery import shared_task

from core.graph import GraphError
from servicehealth import sync


@shared_task
def poll_due_sources():
    """Beat, every 30 s: queue a poll of every feed source that is due."""
    sync.queue_due_sources()


@shared_task
def poll_source(source_id):
    """Poll one feed source. Failures are recorded on the source (and shown); not retried here:
    the source's next_poll_at carries the backoff."""
    with contextlib.suppress(sync.PollSkipped, GraphError):
        sync.poll(source_id)
