"""A poll of one tenant's Message center: claim its feed, read the messages, write what changed in
one transaction.

Nothing is written when the read fails (the error is recorded on the feed and shown; a 403 says
which role is missing); a re-poll that learns nothing writes no data. Writes are bulk statements,
so the number of queries does not grow with the number of messages. The Graph client is the feed
source's own (``servicehealth.feeds.client_for``): whichever way the source reaches its tenant
(the partner's connection through GDAP, or an app registration), messages are read the same way,
and a refusal is classified the same way (``feeds.access_problem``), then worded for the
Message center's own role.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from core import broker, leases
from messagecenter import feed as message_feed
from messagecenter.models import REPORTED_FIELDS, MessageFeed, MessageRecipient, ServiceMessage
from outbound.graph import GraphError
from servicehealth import feeds
from servicehealth.models import AccessProblem, FeedSource

logger = logging.getLogger(__name__)

# Messages change over days, not minutes: Microsoft publishes a few a day.
POLL_INTERVAL = timedelta(hours=1)
# The first retry after a transient failure; doubled each time, never beyond POLL_INTERVAL.
FIRST_RETRY = timedelta(minutes=5)
# A worker holds a feed this long at most; a read ends well before (feeds.POLL_DEADLINE_SECONDS).
LEASE = timedelta(minutes=5)
# A queued poll whose message was lost is queued again after this.
QUEUE_TIMEOUT = timedelta(minutes=10)
# The task that runs ``poll`` (messagecenter.tasks); queued by name: tasks imports this module.
POLL_TASK = "messagecenter.tasks.poll_message_feed"
QUEUE_LIMIT = 500

# What a refusal asks of an admin (servicehealth.feeds.access_problem tells which it is).
NEEDS_ROLE = (
    "No access: needs the Message Center Reader role. The partner's GDAP roles in this tenant "
    "do not include it (Graph answered {status} {code})."
)
NEEDS_CONSENT = (
    "Needs consent: the app needs ServiceMessage.Read.All, admin-consented in this tenant ({error})"
)


@dataclass
class PollSummary(leases.PollSummary):
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    customers_linked: int = 0

    def headline(self):
        return (
            f"{self.source}: {self.created} new messages, {self.updated} updated, "
            f"{self.unchanged} unchanged, {self.customers_linked} customer links "
            f"({self.requests} requests)."
        )


class PollSkipped(Exception):
    """Another worker holds this feed's lease, or its source is disabled."""


# What a poll raises after recording it on the feed, or on purpose: nothing for the worker's log.
RECORDED_FAILURES = (PollSkipped, GraphError)


@dataclass(frozen=True)
class Failure:
    """How a failed read is shown and retried."""

    error: str
    needs_attention: bool = False
    retry_after: float | None = None


def failure_of(exc, source):
    """What to record for an exception a read of ``source``'s messages raised."""
    if isinstance(exc, GraphError):
        problem = feeds.access_problem(exc, source.auth_mode)
        if problem == AccessProblem.NEEDS_ROLE:
            text = NEEDS_ROLE.format(status=exc.status or "", code=exc.code or "Forbidden")
            return Failure(text, needs_attention=True)
        if problem == AccessProblem.NEEDS_CONSENT:
            return Failure(NEEDS_CONSENT.format(error=exc), needs_attention=True)
        return Failure(str(exc), needs_attention=exc.permanent, retry_after=exc.retry_after)
    return Failure(f"Unexpected error: {type(exc).__name__}")


# --- applying a snapshot ----------------------------------------------------------------------


def _apply_messages(snapshot, now, summary):
    parsed = snapshot.messages
    existing = {m.microsoft_id: m for m in ServiceMessage.objects.filter(microsoft_id__in=parsed)}
    created, updated = [], []
    for microsoft_id, fields in parsed.items():
        message = existing.get(microsoft_id)
        if message is None:
            created.append(ServiceMessage(**fields))
            continue
        if any(getattr(message, name) != fields[name] for name in REPORTED_FIELDS):
            for name in REPORTED_FIELDS:
                setattr(message, name, fields[name])
            message.modified_at = now  # bulk_update does not apply auto_now
            updated.append(message)
    ServiceMessage.objects.bulk_create(created)
    ServiceMessage.objects.bulk_update(updated, [*REPORTED_FIELDS, "modified_at"])
    summary.created, summary.updated = len(created), len(updated)
    summary.unchanged = len(parsed) - len(created) - len(updated)
    summary.changes += [f"new {m.microsoft_id}: {m.title}" for m in created]
    summary.changes += [f"updated {m.microsoft_id}: {m.title}" for m in updated]
    return [*existing.values(), *created]


def _link_customer(customer_id, messages, now, summary):
    linked = set(
        MessageRecipient.objects.filter(customer_id=customer_id, message__in=messages).values_list(
            "message_id", flat=True
        )
    )
    links = [
        MessageRecipient(message=message, customer_id=customer_id, first_seen_at=now)
        for message in messages
        if message.pk not in linked
    ]
    MessageRecipient.objects.bulk_create(links)
    if links:
        # Its customers are part of a message in the API: incremental sync must see them.
        ServiceMessage.objects.filter(pk__in={link.message_id for link in links}).update(
            modified_at=now
        )
    summary.customers_linked = len(links)


@transaction.atomic
def apply(source, snapshot, now=None):
    """Write one read of ``source``'s messages, all or nothing. Returns a PollSummary."""
    now = now or timezone.now()
    summary = PollSummary(
        source=source.name, malformed=snapshot.malformed, requests=snapshot.requests
    )
    messages = _apply_messages(snapshot, now, summary)
    if source.customer_id is not None:
        _link_customer(source.customer_id, messages, now, summary)
    return summary


# --- polling a feed: lease, read, write, record the outcome ----------------------------------


def claim(feed_id, now=None):
    """Take the feed for this worker; None if another worker holds it or its source is off."""
    now = now or timezone.now()
    rows = MessageFeed.objects.pollable().filter(pk=feed_id)
    if not leases.take(rows, now, LEASE, last_polled_at=now):
        return None
    return MessageFeed.objects.select_related("source").get(pk=feed_id)


def poll(feed_id, client=None):
    """Poll one feed now. Returns the PollSummary; raises PollSkipped or the read's error
    (already recorded on the feed)."""
    feed = claim(feed_id)
    if feed is None:
        raise PollSkipped(f"Message feed {feed_id} is being polled elsewhere or is disabled.")
    try:
        client = client or feeds.client_for(feed.source)
        snapshot = message_feed.fetch(client)
        # The data and the success, together: a poll whose success is not recorded wrote nothing.
        with transaction.atomic():
            summary = apply(feed.source, snapshot)
            record_success(feed, len(snapshot.messages))
    except Exception as exc:
        record_failure(feed, failure_of(exc, feed.source))
        raise
    return summary


def record_success(feed, messages_seen, now=None):
    now = now or timezone.now()
    MessageFeed.objects.filter(pk=feed.pk).update(
        lease_until=None,
        queued_until=None,
        last_success_at=now,
        last_error="",
        needs_attention=False,
        consecutive_failures=0,
        messages_seen=messages_seen,
        next_poll_at=now + POLL_INTERVAL,
    )


def retry_wait(failure, failures):
    """How long to wait before the next read after ``failures`` failed ones in a row."""
    if failure.retry_after is not None:
        return timedelta(seconds=failure.retry_after)
    if failure.needs_attention:
        return POLL_INTERVAL  # an admin must act first; the schedule retries anyway
    return min(FIRST_RETRY * 2 ** min(failures - 1, 6), POLL_INTERVAL)


def record_failure(feed, failure, now=None):
    now = now or timezone.now()
    failures = feed.consecutive_failures + 1
    MessageFeed.objects.filter(pk=feed.pk).update(
        lease_until=None,
        queued_until=None,
        last_error=failure.error[:2000],
        last_error_at=now,
        needs_attention=failure.needs_attention,
        consecutive_failures=F("consecutive_failures") + 1,
        next_poll_at=now + retry_wait(failure, failures),
    )
    logger.warning("message feed %s failed (%s in a row): %s", feed.pk, failures, failure.error)


# --- scheduling -------------------------------------------------------------------------------


def ensure_feeds():
    """A MessageFeed for every customer's feed source that has none yet (new sources, whether
    added by hand or by the partner connection's sync)."""
    missing = FeedSource.objects.filter(customer__isnull=False, message_feed__isnull=True)
    MessageFeed.objects.bulk_create(
        [MessageFeed(source_id=pk) for pk in missing.values_list("pk", flat=True)],
        ignore_conflicts=True,
    )


def queue_due_feeds(now=None):
    """Beat: make sure every customer's source has a feed, then queue a poll of each due one."""
    now = now or timezone.now()
    ensure_feeds()
    due = leases.mark_queued(MessageFeed.objects.pollable(), now, QUEUE_TIMEOUT, QUEUE_LIMIT)
    for feed_id in due:
        try:
            broker.send_task(POLL_TASK, feed_id)
        except Exception:  # the broker is down: queued_until runs out and a later tick retries
            logger.warning("could not queue a poll of message feed %s", feed_id, exc_info=True)
    return due
