"""A poll of one feed source: claim it, read its feed, write what was learned in one transaction.

Nothing is written when the read fails (the error is recorded on the source and shown); a re-poll
that learns nothing writes no data (servicehealth.snapshots writes what a poll read); a poll the
database went away from is recorded as failed once it is back (PollInterrupted,
record_interrupted). A failing feed's event is written in the same transaction as the failure.
"""

import logging
from contextlib import nullcontext
from datetime import timedelta

from django.db import InterfaceError, OperationalError, transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from core import broker, events, leases
from core.models import EventTypeChoices
from outbound.graph import GraphError
from servicehealth import cycles, feeds, snapshots
from servicehealth.models import FeedSource

logger = logging.getLogger(__name__)

# A worker holds a source this long at most; a poll ends well before (feeds.POLL_DEADLINE_SECONDS).
LEASE = timedelta(minutes=5)
# What the Feeds page shows for a poll that ended without recording how it went: the database
# went away (or the worker died) between the claim and the outcome. Its data was written in one
# transaction with the success, so nothing it read was written.
INTERRUPTED = "The previous poll was interrupted before it finished; nothing it read was written."
# A queued poll whose message was lost is queued again after this.
QUEUE_TIMEOUT = timedelta(minutes=2)
# The tasks that run ``poll`` (servicehealth.tasks): for one source ("Poll now"), and for a
# batch of due sources polled at once (servicehealth.pool). Queued by name: tasks imports this.
POLL_TASK = "servicehealth.tasks.poll_source"
POLL_BATCH_TASK = "servicehealth.tasks.poll_sources"
# Sources per batch task, all polled at once.
POLL_BATCH = 16
MAX_BACKOFF = timedelta(hours=1)
# Sources queued per beat tick (30 s) at most; the rest wait for the next one. 10,000 customers
# are queued within five ticks.
QUEUE_LIMIT = 2000


class PollSkipped(Exception):
    """Another worker holds this source's lease, or it is disabled."""


class PollInterrupted(Exception):
    """The poll failed and the database was unreachable, so the failure is not recorded yet:
    ``record_interrupted(source_id, claimed_at)`` records it once the database is back."""

    def __init__(self, source_id, claimed_at):
        super().__init__(f"Poll of feed source {source_id} interrupted: the database went away.")
        self.source_id, self.claimed_at = source_id, claimed_at


# --- polling a source: lease, read, write, record the outcome --------------------------------


def claim(source_id, now=None):
    """Take the source for this worker; None if another worker holds it or it is disabled.

    A lease that ran out was held by a poll that never recorded its outcome: that is recorded
    first, so the Feeds page shows it even if nothing told us in time.
    """
    now = now or timezone.now()
    rows = FeedSource.objects.filter(pk=source_id, enabled=True)
    # Mostly no one holds the lease: one statement takes it and reads the source (its customer
    # is read when a poll needs it, for an event's tenant).
    source = leases.take_free(rows, now, LEASE, last_polled_at=now)
    if source is None:  # held, or a lease that ran out
        record_interrupted(source_id, now=now)
        if leases.take(rows, now, LEASE, last_polled_at=now):
            source = rows.get()
    return source


def poll(source_id, client=None):
    """Poll one source now. Returns its ``snapshots.PollSummary``; raises PollSkipped or the
    read's error (already recorded on the source)."""
    source = claim(source_id)
    if source is None:
        raise PollSkipped(f"Feed source {source_id} is being polled elsewhere or is disabled.")
    failure = None
    try:
        client = client or feeds.client_for(source)
        summary = _apply(source, feeds.fetch(client, source.issues_watermark))
    except GraphError as exc:
        failure = exc
        _record_failure_or_interrupt(
            source,
            str(exc),
            permanent=exc.permanent,
            retry_after=exc.retry_after,
            access_problem=feeds.access_problem(exc, source.auth_mode),
        )
    except Exception as exc:
        failure = exc
        _record_failure_or_interrupt(source, f"Unexpected error: {type(exc).__name__}")
    if source.through_connection:
        # After the outcome is committed, so two polls ending at once see each other's.
        cycles.source_finished()
    if failure is not None:
        raise failure
    return summary


def _apply(source, snapshot):
    """Write what ``snapshot`` changes and record the success, together: a poll whose success
    is not recorded wrote nothing. With no data to write, the success alone: one statement. An
    incremental snapshot with the digest of the last one applied (nothing new since) is not
    even compared with what is stored; a full listing always is (it may hold older issues the
    digest leaves out)."""
    digest = snapshot.digest(source)
    if not snapshot.full_listing and digest == source.snapshot_digest:
        record_success(source)
        return snapshots.unchanged(source, snapshot)
    changes = snapshots.compare(source, snapshot)
    with transaction.atomic() if changes.writes_data else nullcontext():
        summary = snapshots.write(changes)
        record_success(source, watermark=changes.watermark, digest=digest)
    return summary


def _record_failure_or_interrupt(source, error, **kwargs):
    try:
        record_failure(source, error, **kwargs)
    except (OperationalError, InterfaceError) as db_error:
        # The database went away mid-poll: the lease stays until the failure can be recorded.
        raise PollInterrupted(source.pk, source.last_polled_at) from db_error


def record_success(source, watermark=None, digest=None, now=None):
    """Record a successful poll; ``watermark``: the source's new issues watermark, and
    ``digest``: its snapshot's, recorded with the data they cover (in its transaction)."""
    now = now or timezone.now()
    moved = {}
    if watermark is not None:
        moved["issues_watermark"] = source.issues_watermark = watermark
    if digest is not None:
        moved["snapshot_digest"] = source.snapshot_digest = digest
    FeedSource.objects.filter(pk=source.pk).update(
        **moved,
        lease_until=None,
        queued_until=None,
        last_success_at=now,
        last_finished_at=now,
        last_error="",
        access_problem="",
        needs_attention=False,
        consecutive_failures=0,
        failing_since=None,
        next_poll_at=now + source.poll_interval,
    )


@transaction.atomic
def record_failure(
    source, error, *, permanent=False, retry_after=None, access_problem="", now=None
):
    """Record a failed poll; ``access_problem`` (an AccessProblem): what Microsoft's refusal
    asks an admin to grant, shown beside the error."""
    now = now or timezone.now()
    failures = source.consecutive_failures + 1
    if retry_after is not None:
        wait = timedelta(seconds=retry_after)
    else:
        wait = min(source.poll_interval * 2 ** min(failures - 1, 6), MAX_BACKOFF)
    FeedSource.objects.filter(pk=source.pk).update(
        lease_until=None,
        queued_until=None,
        last_error=error[:2000],
        last_error_at=now,
        last_finished_at=now,
        access_problem=access_problem,
        needs_attention=permanent,
        consecutive_failures=F("consecutive_failures") + 1,
        failing_since=Coalesce(F("failing_since"), Value(now)),
        next_poll_at=now + max(wait, source.poll_interval if permanent else timedelta(0)),
    )
    logger.warning("feed source %s failed (%s in a row): %s", source.pk, failures, error)
    if failures == 1:
        # Tell once, when a healthy source starts failing.
        events.record(
            [
                events.build(
                    type=EventTypeChoices.FEED_FAILING,
                    summary=f"{source.name}: {error}",
                    object_type="feed_source",
                    object_id=source.pk,
                    object_url=f"/api/v1/feed-sources/{source.pk}/",
                    consolidation_key=f"feed:{source.tenant_id}",
                    tenant_id=source.customer.tenant_id if source.customer_id else None,
                    payload={"source": source.name, "error": error, "needs_attention": permanent},
                )
            ]
        )


@transaction.atomic
def record_interrupted(source_id, claimed_at=None, now=None):
    """Record as failed a poll that claimed the source but never recorded its outcome.

    With ``claimed_at`` (the poll's claim time, from PollInterrupted): that poll, if it still
    holds the lease. Without: whichever poll held a lease that has run out. Returns True when a
    failure was recorded. The row lock makes two callers record it once.
    """
    now = now or timezone.now()
    rows = FeedSource.objects.select_for_update().filter(pk=source_id, lease_until__isnull=False)
    if claimed_at is None:
        rows = rows.filter(lease_until__lt=now)
    else:
        rows = rows.filter(last_polled_at=claimed_at)
    source = rows.first()
    if source is None:
        return False
    record_failure(source, INTERRUPTED, now=now)
    return True


def queue_due_sources(now=None):
    """Beat, every 30 s: claim the sources that are due and queue their polls, ``POLL_BATCH``
    sources a task.

    ``select_for_update(skip_locked=True)`` lets two schedulers run at once without queueing a
    source twice; ``queued_until`` re-queues a source whose message was lost.
    """
    now = now or timezone.now()
    enabled = FeedSource.objects.filter(enabled=True)
    due = leases.mark_queued(enabled, now, QUEUE_TIMEOUT, QUEUE_LIMIT)
    for start in range(0, len(due), POLL_BATCH):
        batch = due[start : start + POLL_BATCH]
        try:
            broker.send_task(POLL_BATCH_TASK, batch)
        except Exception:  # the broker is down: queued_until runs out and the next tick retries
            logger.warning("could not queue a poll of feed sources %s", batch, exc_info=True)
    return due


def queue_poll(source_id):
    """Ask a worker to poll the source; raises what the broker raises."""
    broker.send_task(POLL_TASK, source_id)
