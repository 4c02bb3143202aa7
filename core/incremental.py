"""Incremental sync for API collections: ``?modified_since=`` that a poller can trust.

A PSA polls a list with ``modified_since`` set to the newest ``modified_at`` it has seen and
follows ``next`` to the end. For that to deliver every change exactly once:

* the list is ordered by (modification time, pk) and paged with a keyset cursor
  (``core.pagination``): rows that change while the client pages move behind it and come again
  later, once;
* ``modified_since`` is exclusive (strictly after), so the row the client saw last is not sent
  again; rows sharing its timestamp are all on the pages the client already followed;
* an incremental read returns only rows that can no longer be overtaken. A row's ``modified_at``
  is taken while its transaction runs, but other readers see it only when it commits: a poll in
  between could already serve later rows, the client would move past the earlier timestamp and
  miss the row for good. So rows are served only up to a cutoff: ``API_SYNC_SETTLE_SECONDS`` ago,
  and on PostgreSQL also no later than that long before the start of the oldest transaction
  still open on the database (``pg_stat_activity``), so a long import or feed poll holds the
  cutoff back until it commits instead of losing its rows. The settle window also absorbs clock
  differences between the web servers, the workers and the database. A transaction open longer
  than ``API_SYNC_MAX_WRITE_SECONDS`` is not waited for: the portal's own writes end sooner (the
  task and request time limits; a system check keeps the setting above them), and a session
  left open in psql must not stall every PSA's sync.

A cutoff once read stays safe to use later: rows older than it were all committed when it was read,
and a transaction that starts afterwards stamps its rows later still. So each process reuses its
reading for a moment (``CUTOFF_REUSE_SECONDS``, at most a fifth of the settle window) instead of
asking ``pg_stat_activity`` on every page; a change is served at most that much later.

Without ``modified_since`` a list is served as it is now, with no cutoff.
"""

import time
from datetime import timedelta

import django_filters
from django.conf import settings
from django.db import connections, router
from django.utils import timezone
from django_filters.constants import EMPTY_VALUES

from core.filters import PortalFilterSet, StandaloneFilter, UtcIsoDateTimeField

MODIFIED_SINCE_HELP = (
    "ISO 8601 date and time with an offset. Only rows modified strictly after it, oldest change "
    "first; only changes at least `API_SYNC_SETTLE_SECONDS` old (and older than any write still "
    "in progress) are returned, so a poller that passes the newest `modified_at` it received and "
    "follows `next` to the end gets each change exactly once."
)

# Sessions of this database with a transaction open, other than ours: their writes are not
# visible yet, and their rows carry timestamps from no earlier than their start.
_OLDEST_OPEN_TRANSACTION = """
    SELECT min(xact_start) FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL
      AND backend_type = 'client backend' AND xact_start > now() - make_interval(secs => %s)
"""


CUTOFF_REUSE_SECONDS = 1.0

# (database alias, settle, longest write waited for) -> (monotonic time of reading, cutoff)
_readings = {}


def settled_cutoff(model=None):
    """The newest modification time an incremental read may return (exclusive)."""
    alias = router.db_for_read(model) if model is not None else "default"
    key = (alias, settings.API_SYNC_SETTLE_SECONDS, settings.API_SYNC_MAX_WRITE_SECONDS)
    reuse_for = min(CUTOFF_REUSE_SECONDS, settings.API_SYNC_SETTLE_SECONDS / 5)
    read_at, cutoff = _readings.get(key, (None, None))
    now = time.monotonic()
    if read_at is None or now - read_at >= reuse_for:
        connection = connections[alias]
        cutoff = _read_cutoff(connection)
        # The reading leaves out this connection's own transaction, which another thread of the
        # process would need: only a reading taken outside one is kept.
        if not connection.in_atomic_block:
            _readings[key] = (now, cutoff)
    return cutoff


def _read_cutoff(connection):
    settle = timedelta(seconds=settings.API_SYNC_SETTLE_SECONDS)
    cutoff = timezone.now() - settle
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_OLDEST_OPEN_TRANSACTION, [settings.API_SYNC_MAX_WRITE_SECONDS])
            (oldest,) = cursor.fetchone()
        if oldest is not None:
            cutoff = min(cutoff, oldest - settle)
    return cutoff


class ModifiedSinceFilter(StandaloneFilter, django_filters.IsoDateTimeFilter):
    """``?modified_since=``: strictly after the given time, and only settled changes."""

    field_class = UtcIsoDateTimeField

    def __init__(self, field_name="modified_at", **kwargs):
        kwargs.setdefault("help_text", MODIFIED_SINCE_HELP)
        kwargs.setdefault("label", "Modified since")
        super().__init__(field_name=field_name, lookup_expr="gt", **kwargs)

    def filter(self, queryset, value):
        if value in EMPTY_VALUES:
            return queryset
        # The cutoff is read before the rows: a write that starts after it is past the cutoff.
        cutoff = settled_cutoff(queryset.model)
        return queryset.filter(
            **{f"{self.field_name}__gt": value, f"{self.field_name}__lt": cutoff}
        )


class ModifiedSinceFilterSet(PortalFilterSet):
    """For collections that have no other filters."""

    modified_since = ModifiedSinceFilter()
