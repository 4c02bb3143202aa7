import contextlib
import logging
from datetime import datetime

from celery import shared_task
from django.db import InterfaceError, OperationalError

from outbound.graph import GraphError
from servicehealth import connection_sources, cycles, polling, pool

logger = logging.getLogger(__name__)

# An interrupted poll's failure is recorded this soon after the database is back (≤ 60 s:
# core.checks); for longer outages, claim() records it when the lease has run out.
RECORD_RETRY_SECONDS = 10
RECORD_MAX_RETRIES = 30


@shared_task
def poll_due_sources():
    """Beat, every 30 s: give every customer the connection reaches a feed source, then queue a
    poll of every feed source that is due."""
    connection_sources.add_missing()
    cycles.start_if_due()
    polling.queue_due_sources()


@shared_task(name=polling.POLL_TASK)
def poll_source(source_id):
    """Poll one feed source. Failures are recorded on the source (and shown); not retried here:
    the source's next_poll_at carries the backoff. A poll the database went away from is
    recorded by ``record_interrupted_poll`` once it is back."""
    try:
        with contextlib.suppress(polling.PollSkipped, GraphError):
            polling.poll(source_id)
    except polling.PollInterrupted as exc:
        _record_later(exc)


@shared_task(name=polling.POLL_BATCH_TASK)
def poll_sources(source_ids):
    """Poll a batch of feed sources at once (servicehealth.pool), each as ``poll_source``
    does; one source's failure is its own and does not stop the others."""
    for source_id, outcome in pool.poll_many(source_ids).items():
        if isinstance(outcome, polling.PollInterrupted):
            _record_later(outcome)
        elif isinstance(outcome, Exception) and not isinstance(
            outcome, polling.PollSkipped | GraphError
        ):
            logger.error("poll of feed source %s failed", source_id, exc_info=outcome)


def _record_later(interrupted):
    logger.warning("%s Recording it in %s s.", interrupted, RECORD_RETRY_SECONDS)
    record_interrupted_poll.apply_async(
        (interrupted.source_id, interrupted.claimed_at.isoformat()),
        countdown=RECORD_RETRY_SECONDS,
    )


@shared_task(bind=True, max_retries=RECORD_MAX_RETRIES)
def record_interrupted_poll(self, source_id, claimed_at):
    """Record a poll the database went away from as failed, and free its source, as soon as the
    database answers again."""
    try:
        polling.record_interrupted(source_id, datetime.fromisoformat(claimed_at))
    except (OperationalError, InterfaceError) as exc:
        raise self.retry(exc=exc, countdown=RECORD_RETRY_SECONDS) from None
