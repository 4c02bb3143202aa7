"""The outbox every delivery goes through: escalations, webhooks, and the notifications to come.

An outbox row has ``state`` (``pending`` / ``sending`` / ``delivered`` / ``failed``, the dead
letter), ``next_attempt_at``, ``lease_until``, ``attempts`` and ``last_error``, and a log of
attempts (``attempt_log``). ``Outbox`` holds the whole cycle once:

- claim: one conditional UPDATE takes the row under a lease, so two workers never hold it at
  once; a worker that dies while ``sending`` frees it when the lease runs out, and the sweep
  hands it to another;
- send, then record in one transaction: the attempt is always logged, the row only while the
  claim still holds it (a worker whose lease ran out mid-send leaves the outcome to the newer
  claim);
- retry with backoff and jitter (``Retry-After`` honoured within a cap), or give up into the
  dead letter (``failed``) after ``max_attempts`` or on a permanent failure, always leaving a
  notice a human sees (the user's ``dead_lettered``) and a warning in the log;
- redeliver: back to pending, due now, the attempt numbering continuing from the log.

Each user is a small subclass that says how to send and what to record. ``core.batch_outbox``
runs the same cycle for many rows of one receiver at a time.
"""

import enum
import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from core import broker

logger = logging.getLogger(__name__)

PENDING, SENDING, DELIVERED = "pending", "sending", "delivered"
# The dead letter: given up for good, waiting for a human to look (and perhaps redeliver). The
# stored value stays "failed": API clients read it.
DEAD_LETTER = "failed"
# A grace period keeps the sweep from doubling the message queued at commit.
SWEEP_GRACE = timedelta(seconds=10)
ERROR_LENGTH = 2000


# --- the lease rule -------------------------------------------------------------------------


def takeable(now, grace=timedelta(0)):
    return Q(state=PENDING, next_attempt_at__lte=now - grace) | Q(
        state=SENDING, lease_until__lt=now
    )


def claim(queryset, now, lease):
    """Take the row(s) of ``queryset`` that are due or abandoned; True if this worker got one."""
    return bool(
        queryset.filter(takeable(now)).update(
            state=SENDING, lease_until=now + lease, attempts=F("attempts") + 1
        )
    )


def log_taken_over(row):
    logger.warning(
        "%s %s: the lease ran out during attempt %s and another worker took it over; only the "
        "attempt is recorded (the same key, so one effect at the receiver)",
        row._meta.verbose_name,
        row.pk,
        row.attempts,
    )


def due(queryset, now, limit):
    """Ids of rows the sweep should queue: due a while ago, or whose worker died holding them."""
    return list(
        queryset.filter(takeable(now, SWEEP_GRACE))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )


# --- retry policies -------------------------------------------------------------------------


@dataclass(frozen=True)
class Retry:
    """How often and how long to wait: ``base_wait(attempts)`` after that many failed tries,
    plus up to ``jitter`` times as much again at random, so retries of many rows spread out.
    A receiver's ``Retry-After`` replaces the wait, up to ``max_retry_after``."""

    max_attempts: int
    max_retry_after: timedelta
    jitter: float

    def base_wait(self, attempts):
        raise NotImplementedError

    def wait(self, attempts, retry_after=None):
        if retry_after is not None:
            return timedelta(seconds=min(retry_after, self.max_retry_after.total_seconds()))
        base = self.base_wait(attempts).total_seconds()
        spread = random.uniform(0, base * self.jitter)  # noqa: S311 - spreading, not crypto
        return timedelta(seconds=base + spread)


@dataclass(frozen=True)
class ExponentialRetry(Retry):
    """``first``, doubling after each failure, never more than ``longest``."""

    first: timedelta
    longest: timedelta

    def base_wait(self, attempts):
        # The exponent is bounded only so that the product stays within timedelta's range.
        return min(self.first * 2 ** min(max(attempts - 1, 0), 30), self.longest)


@dataclass(frozen=True)
class ScheduledRetry(Retry):
    """The waits before attempts 2, 3, …; the last one repeats."""

    schedule: tuple

    def base_wait(self, attempts):
        return self.schedule[min(max(attempts, 1), len(self.schedule)) - 1]


# --- one cycle ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    """A failed send as the outbox sees it. ``cause`` is the user's own exception (None for an
    unexpected one), for hooks that need more than this."""

    message: str
    permanent: bool = False
    retry_after: float | None = None
    status_code: int | None = None
    cause: Exception | None = None


class Outcome(enum.Enum):
    SUCCESS = "success"
    RETRY = "retry"
    DEAD_LETTER = "dead letter"


@dataclass(frozen=True)
class Attempt:
    """One try, for the user's attempt log. ``number`` counts from the log, so it goes on after
    a redelivery restarts ``attempts``."""

    number: int
    started_at: datetime
    duration_ms: int
    outcome: Outcome
    result: object = None
    failure: Failure | None = None


class Outbox:
    """The outbox cycle over ``model``'s rows. A user sets the class attributes and implements
    ``send``, ``classify`` and ``log_attempt``; the other hooks say what else to write."""

    model = None
    task_name = ""  # the task that runs ``deliver``, queued by name (tasks imports the user)
    lease = timedelta(minutes=1)
    retry: Retry = None
    failure_types = ()  # what ``send`` raises for a failure it expected (``classify`` reads it)
    related = ()  # select_related for the claimed row, for ``send``
    touched = ()  # fields set to now on every write to the row (``update`` skips auto_now)
    sweep_limit = 500

    # --- what each user supplies ---

    def claimable(self):
        """The rows a worker may take; the sweep queues from these too."""
        return self.model.objects.all()

    def send(self, row):
        """Send ``row``; returns what ``delivered`` and ``log_attempt`` need, or raises."""
        raise NotImplementedError

    def classify(self, exc):
        """A ``Failure`` for one of ``failure_types``: permanent? wait how long? status?"""
        raise NotImplementedError

    def log_attempt(self, row, attempt):
        """Write ``attempt`` (an ``Attempt``) to the row's attempt log."""
        raise NotImplementedError

    def attempt_log(self, row):
        return row.attempt_log.all()

    # The row is written first (``*_changes``: the changes beyond state, lease and error), then
    # the hooks write what else the outcome means, so they see the row as it now is.

    def success_changes(self, row, result, now):
        """The row's changes on success (``state`` at least)."""
        return {"state": DELIVERED, "delivered_at": now}

    def failure_changes(self, row, failure, now):
        """Further changes to the row on any failure, retried or not."""
        return {}

    def delivered(self, row, result, now):
        """Write what success means beyond the row."""

    def failed(self, row, failure, now):
        """Write what any failure means beyond the row (before ``retrying``/``dead_lettered``)."""

    def retrying(self, row, failure, wait, now):
        """Write what a retry in ``wait`` means beyond the row."""

    def dead_lettered(self, row, failure, now):
        """The notice a human sees: the row gave up for good (permanent, or out of attempts)."""

    # --- the cycle ---

    def claim(self, pk, now=None):
        """Take the row for this worker; None if it is not due or another worker holds it."""
        if not claim(self.claimable().filter(pk=pk), now or timezone.now(), self.lease):
            return None
        return self.model.objects.select_related(*self.related).get(pk=pk)

    def deliver(self, pk):
        """Claim, send, record. Returns the row's new state, or None if not claimed (or if
        another worker took the row over while this one was sending)."""
        row = self.claim(pk)
        if row is None:
            return None
        started, clock = timezone.now(), time.monotonic()
        result, failure = self.try_send(row)
        if failure is None:
            return self.record_success(row, result, started, clock)
        return self.record_failure(row, failure, started, clock)

    def try_send(self, row):
        """``(result, None)`` if ``send`` succeeded, else ``(None, the Failure)``."""
        try:
            return self.send(row), None
        except self.failure_types as exc:
            return None, self.classify(exc)
        except Exception as exc:
            # Unexpected: retried later like any transient failure, so one bad row cannot
            # crash-loop the workers.
            logger.exception("%s %s crashed", self.model._meta.verbose_name, row.pk)
            return None, Failure(f"Unexpected error: {type(exc).__name__}")

    def _attempt(self, row, started, clock, outcome, **outcome_data):
        return Attempt(
            number=self.attempt_log(row).count() + 1,
            started_at=started,
            duration_ms=int((time.monotonic() - clock) * 1000),
            outcome=outcome,
            **outcome_data,
        )

    def _stamped(self, changes, now):
        """``changes`` to a row whose claim ends: its lease freed, its ``touched`` fields now."""
        return {"lease_until": None, **changes, **dict.fromkeys(self.touched, now)}

    def _update(self, pks, changes, now):
        changes = self._stamped(changes, now)
        self.model.objects.filter(pk__in=pks).update(**changes)
        return changes

    def _update_held(self, row, changes, now):
        """Write ``changes`` to ``row`` while it is still this claim's (``row.attempts`` is the
        number the claim gave it); the UPDATE locks the row until commit. Returns what it wrote,
        or None when the lease ran out mid-send and another worker has claimed it since: that
        claim records the outcome, this one only logs its attempt."""
        changes = self._stamped(changes, now)
        held = self.model.objects.filter(pk=row.pk, state=SENDING, attempts=row.attempts)
        if not held.update(**changes):
            log_taken_over(row)
            return None
        return changes

    @transaction.atomic
    def record_success(self, row, result, started, clock):
        now = timezone.now()
        self.log_attempt(row, self._attempt(row, started, clock, Outcome.SUCCESS, result=result))
        changes = self._update_held(row, self._success_changes(row, result, now), now)
        if changes is None:
            return None
        # The row in memory as it is now stored, for the hook (the row itself is not read again).
        for name, value in changes.items():
            setattr(row, name, value)
        self.delivered(row, result, now)
        return changes["state"]

    def _success_changes(self, row, result, now):
        return {"last_error": "", **self.success_changes(row, result, now)}

    def _failure_outcome(self, row, failure):
        final = failure.permanent or row.attempts >= self.retry.max_attempts
        return Outcome.DEAD_LETTER if final else Outcome.RETRY

    @transaction.atomic
    def record_failure(self, row, failure, started, clock):
        now = timezone.now()
        outcome = self._failure_outcome(row, failure)
        self.log_attempt(row, self._attempt(row, started, clock, outcome, failure=failure))
        changes = self._write_failure(row, failure, now)
        return None if changes is None else changes["state"]

    def _write_failure(self, row, failure, now):
        """Write a failure of a row this claim holds and what it means; returns the row's
        changes, or None when another claim has taken the row over (``_update_held``)."""
        final = self._failure_outcome(row, failure) is Outcome.DEAD_LETTER
        changes = {
            "last_error": failure.message[:ERROR_LENGTH],
            **self.failure_changes(row, failure, now),
        }
        if final:
            changes["state"] = DEAD_LETTER
        else:
            wait = self.retry.wait(row.attempts, failure.retry_after)
            changes.update(state=PENDING, next_attempt_at=now + wait)
        changes = self._update_held(row, changes, now)
        if changes is None:
            return None
        self.failed(row, failure, now)
        if final:
            logger.warning(
                "%s %s: dead letter after %s attempts (%s, status %s): %s",
                self.model._meta.verbose_name,
                row.pk,
                row.attempts,
                "permanent failure" if failure.permanent else "out of attempts",
                failure.status_code,
                failure.message[:300],
            )
            self.dead_lettered(row, failure, now)
        else:
            self.retrying(row, failure, wait, now)
        return changes

    # --- waking workers, and redelivery ---

    def message(self, pk):
        """The message that wakes a worker for row ``pk`` (``broker.publish_tasks``)."""
        return (self.task_name, (pk,))

    def queue(self, ids):
        """Wake workers for these rows. Broker errors are logged: the sweep sends them anyway."""
        ids = list(ids)
        return self._publish(ids, f"{len(ids)} {self.model._meta.verbose_name_plural}")

    def _publish(self, args, what):
        """One ``task_name`` message per item of ``args``, in one batch; broker errors logged
        (``broker``)."""
        return broker.publish_tasks([self.message(arg) for arg in args], what)

    def sweep(self, now=None):
        """Beat, every 15 s: queue rows that are due, or whose worker died holding the lease."""
        found = due(self.claimable(), now or timezone.now(), self.sweep_limit)
        if found:
            self.queue(found)
        return found

    def redeliver(self, queryset):
        """Start the cycle again for ``queryset``'s rows (a dead letter an admin sends again):
        pending, due now, ``attempts`` from zero (the log's numbering goes on), queued after
        commit. Rows a worker is sending right now are left alone. Returns the ids."""
        now = timezone.now()
        in_flight = Q(state=SENDING, lease_until__gte=now)
        ids = list(queryset.exclude(in_flight).values_list("pk", flat=True))
        self.model.objects.filter(pk__in=ids).update(
            state=PENDING,
            attempts=0,
            next_attempt_at=now,
            lease_until=None,
            **dict.fromkeys(self.touched, now),
        )
        transaction.on_commit(lambda: self.queue(ids))
        return ids
