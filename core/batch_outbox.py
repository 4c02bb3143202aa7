"""The outbox cycle (``core.outbox``) for rows that go to one receiver many at a time.

Webhooks to one subscription are the user: a task claims a batch of one receiver's due rows,
sends them over one kept-alive connection and records them in bulk, where a task per row paid
for a claim, a connection and a record of its own.
"""

import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from math import ceil

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F
from django.utils import timezone

from core.outbox import (
    PENDING,
    SENDING,
    Attempt,
    Failure,
    Outbox,
    Outcome,
    log_taken_over,
    takeable,
)


@dataclass(frozen=True)
class Sent:
    """A row of a batch sent and not recorded yet: ``result`` on success, else ``failure``."""

    row: object
    started_at: datetime
    duration_ms: int
    result: object = None
    failure: Failure | None = None


class BatchOutbox(Outbox):
    """The cycle for rows that go to a receiver many at a time (webhooks to one subscription).

    A task for a receiver (``batch_by`` names it) claims up to ``batch_size`` of its due rows at
    once, oldest first (SKIP LOCKED, one lease for the lot), sends them one after another over
    the transport's kept-alive connection, and records the outcomes in bulk; a burst is queued
    as a task per ``batch_size`` rows, so several workers share it. The per-row guarantees hold
    for each row of a batch:

    - outcomes are written at least every ``record_every`` of sending, and at the end: a worker
      killed mid-batch leaves only what it sent in that window to be sent again (the same key),
      and against a receiver slower than the window that is one row, as with a task per row;
    - a failure of the receiver (transient, or one ``stops_batch`` names) ends the batch: the
      rows not tried go back unattempted, due with the failed row's retry, so they neither
      hammer the receiver nor jump ahead of it;
    - no row is started once half the lease (or of the task's soft time limit) has gone: the
      rest go back due now and the receiver is queued again, so a slow receiver never lets the
      lease run out under waiting rows.

    ``deliver(pk)`` still sends one row on its own.
    """

    batch_by = ""  # the field naming a row's receiver; the task takes its value
    batch_size = 100
    record_every = timedelta(milliseconds=20)

    def stops_batch(self, failure):
        """Whether ``failure`` says the receiver will refuse the rest of the batch too."""
        return not failure.permanent

    def logged_attempts(self, rows):
        """How many attempts each row's log holds already, by pk (one query)."""
        return dict(
            self.model.objects.filter(pk__in=[row.pk for row in rows])
            .order_by()
            .annotate(logged=Count("attempt_log"))
            .values_list("pk", "logged")
        )

    def log_attempts(self, attempts):
        """Write ``(row, Attempt)`` pairs to the attempt log (a user may write them in bulk)."""
        for row, attempt in attempts:
            self.log_attempt(row, attempt)

    def delivered_many(self, delivered, now):
        """``delivered`` for each ``(row, result)`` (a user may write it once per receiver)."""
        for row, result in delivered:
            self.delivered(row, result, now)

    # --- the cycle ---

    def claim_batch(self, key, now=None):
        """Take up to ``batch_size`` of ``key``'s due rows: ``(rows oldest first, lease_until)``.
        Rows another worker holds or is claiming are skipped; ``lease_until`` marks this claim."""
        now = now or timezone.now()
        lease_until = now + self.lease
        with transaction.atomic():
            ids = list(
                self.claimable()
                .filter(takeable(now), **{self.batch_by: key})
                .order_by("pk")
                .select_for_update(skip_locked=True, of=("self",))
                .values_list("pk", flat=True)[: self.batch_size]
            )
            if not ids:
                return [], lease_until
            self.model.objects.filter(pk__in=ids).update(
                state=SENDING, lease_until=lease_until, attempts=F("attempts") + 1
            )
        rows = self.model.objects.select_related(*self.related).filter(pk__in=ids).order_by("pk")
        return list(rows), lease_until

    def deliver_batch(self, key):
        """Claim, send and record a batch of ``key``'s rows, and queue ``key`` again if rows are
        left. Returns the new state of each row recorded, by pk (None: taken over meanwhile)."""
        rows, lease_until = self.claim_batch(key)
        # Half the lease, or of the task's soft time limit if shorter: the row started last
        # still ends (within its timeout) before either runs out.
        budget = min(self.lease.total_seconds(), settings.CELERY_TASK_SOFT_TIME_LIMIT) / 2
        deadline = time.monotonic() + budget
        states, sent, recorded_at = {}, [], time.monotonic()

        def record():
            written = self.record_batch(sent, lease_until)
            states.update({pk: changes and changes["state"] for pk, changes in written.items()})
            sent.clear()
            return written

        rest, due_at, out_of_time = [], None, False
        for n, row in enumerate(rows):
            if time.monotonic() >= deadline:
                rest, out_of_time = rows[n:], True
                break
            started, clock = timezone.now(), time.monotonic()
            result, failure = self.try_send(row)
            duration_ms = int((time.monotonic() - clock) * 1000)
            sent.append(Sent(row, started, duration_ms, result, failure))
            if failure is not None and self.stops_batch(failure):
                # Due with the failed row's retry; now if it has none (the sweep sends them).
                rest, due_at = rows[n + 1 :], (record()[row.pk] or {}).get("next_attempt_at")
                break
            if time.monotonic() - recorded_at >= self.record_every.total_seconds():
                record()
                recorded_at = time.monotonic()
        if sent:
            record()
        if rest:
            self.hand_back(rest, lease_until, due_at or timezone.now())
        if out_of_time or (len(rows) == self.batch_size and not rest):
            self.queue_receivers([key])
        return states

    @transaction.atomic
    def record_batch(self, sent, lease_until):
        """Record the ``Sent`` rows of the claim marked ``lease_until``: every attempt logged,
        the rows this claim still holds written. Returns each row's changes by pk (None when
        another worker took it over: its claim records the outcome)."""
        now = timezone.now()
        rows = [item.row for item in sent]
        held = set(
            self.model.objects.select_for_update()
            .filter(pk__in=[row.pk for row in rows], state=SENDING, lease_until=lease_until)
            .values_list("pk", flat=True)
        )
        logged = self.logged_attempts(rows)
        self.log_attempts([(item.row, self._sent_attempt(item, logged)) for item in sent])
        written, delivered, groups = {}, [], []  # groups: [changes, pks], one UPDATE each
        for item in sent:
            row = item.row
            if row.pk not in held:
                log_taken_over(row)
                written[row.pk] = None
            elif item.failure is not None:
                written[row.pk] = self._write_failure(row, item.failure, now)
            else:
                delivered.append((row, item.result))
                changes = self._success_changes(row, item.result, now)
                group = next((group for group in groups if group[0] == changes), None)
                if group is None:
                    groups.append([changes, [row.pk]])
                else:
                    group[1].append(row.pk)
        for changes, pks in groups:
            changes = self._update(pks, changes, now)
            written.update(dict.fromkeys(pks, changes))
        self.delivered_many(delivered, now)
        return written

    def _sent_attempt(self, item, logged):
        failure = item.failure
        return Attempt(
            number=logged.get(item.row.pk, 0) + 1,
            started_at=item.started_at,
            duration_ms=item.duration_ms,
            outcome=Outcome.SUCCESS
            if failure is None
            else self._failure_outcome(item.row, failure),
            result=item.result,
            failure=failure,
        )

    def hand_back(self, rows, lease_until, due_at):
        """Rows of the claim marked ``lease_until`` that were not tried: pending again, due at
        ``due_at``, the claim's count in ``attempts`` taken back. Returns how many."""
        return self.model.objects.filter(
            pk__in=[row.pk for row in rows], state=SENDING, lease_until=lease_until
        ).update(
            state=PENDING,
            lease_until=None,
            next_attempt_at=due_at,
            attempts=F("attempts") - 1,
            **dict.fromkeys(self.touched, timezone.now()),
        )

    # --- waking workers ---

    def queue(self, ids):
        """Wake workers for these rows (broker errors logged: the sweep sends them anyway)."""
        keys = self.model.objects.filter(pk__in=list(ids)).values_list(self.batch_by, flat=True)
        return self.queue_batches(keys)

    def queue_batches(self, keys):
        """Batch tasks for rows of these receivers (``keys``: a row's receiver for each row), one
        per ``batch_size`` rows of a receiver, so that several workers share a burst."""
        counts = Counter(keys)
        return self.queue_receivers(
            [key for key, rows in counts.items() for _ in range(ceil(rows / self.batch_size))]
        )

    def queue_receivers(self, keys):
        """A batch task for each receiver in ``keys``."""
        keys = list(keys)
        return self._publish(keys, f"{len(keys)} batches of {self.model._meta.verbose_name_plural}")
