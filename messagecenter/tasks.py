import contextlib

from celery import shared_task

from messagecenter import polling


@shared_task
def poll_due_message_feeds():
    """Beat: queue a poll of every tenant's Message center that is due (hourly each)."""
    polling.queue_due_feeds()


@shared_task(name=polling.POLL_TASK)
def poll_message_feed(feed_id):
    """Poll one tenant's Message center. Failures are recorded on the feed (and shown), not
    retried here; an unexpected one is recorded and raised, for the worker's log: the feed's next_poll_at carries the backoff."""
    with contextlib.suppress(*polling.RECORDED_FAILURES):
        polling.poll(feed_id)
