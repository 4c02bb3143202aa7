"""Rows that record a piece of recurring work (a feed to poll): how a scheduler queues them and a
worker takes them, so two of either never act on one row at once.

The row carries ``next_poll_at`` (when it is due), ``queued_until`` (a scheduler queued it; runs
out if the message is lost) and ``lease_until`` (a worker holds it; runs out if the worker dies).
Both marks expire on their own, so nothing is ever stuck. ``PolledWork`` declares them, with
how the last runs went.
"""

from dataclasses import dataclass, field

from django.db import connections, models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class PolledWork(models.Model):
    """The fields of a row of recurring work (a feed source, a Message center feed): when it is
    due, the scheduler's and the worker's marks, and how the last runs went."""

    next_poll_at = models.DateTimeField(_("next poll"), default=timezone.now)
    queued_until = models.DateTimeField(null=True, blank=True, editable=False)
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    last_polled_at = models.DateTimeField(_("last poll"), null=True, blank=True)
    last_success_at = models.DateTimeField(_("last success"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(_("consecutive failures"), default=0)

    class Meta:
        abstract = True


def due(queryset, now):
    """The rows of ``queryset`` that are due and that no scheduler has queued recently."""
    return queryset.filter(next_poll_at__lte=now).filter(
        Q(queued_until__isnull=True) | Q(queued_until__lt=now)
    )


def mark_queued(queryset, now, timeout, limit):
    """Mark up to ``limit`` due rows as queued until ``now + timeout`` and return their ids.

    ``select_for_update(skip_locked=True)``: two schedulers running at once each get other rows.
    """
    with transaction.atomic():
        ids = list(
            due(queryset, now)
            .select_for_update(skip_locked=True)
            .order_by("next_poll_at")
            .values_list("pk", flat=True)[:limit]
        )
        queryset.model.objects.filter(pk__in=ids).update(queued_until=now + timeout)
    return ids


def take(queryset, now, lease, **fields):
    """Take the row(s) of ``queryset`` whose lease is free or ran out, for ``lease``, setting
    ``fields`` too; True if this worker got one."""
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    return bool(queryset.filter(free).update(lease_until=now + lease, **fields))


def take_free(queryset, now, lease, **fields):
    """The one row of ``queryset`` if no worker holds its lease, taken for ``lease`` with
    ``fields`` set and read in the same statement (``UPDATE … RETURNING``: Django's ``update``
    returns a count only); None if it is held or not there. Where the database cannot return
    rows from an UPDATE (SQLite before 3.35), the take and the read are two statements."""
    free = queryset.filter(lease_until__isnull=True)
    changes = {"lease_until": now + lease, **fields}
    connection = connections[queryset.db]
    if not connection.features.can_return_columns_from_insert:
        return queryset.get() if free.update(**changes) else None
    meta, quote = queryset.model._meta, connection.ops.quote_name
    where, where_params = free.query.get_compiler(connection=connection).compile(free.query.where)
    assignments = ", ".join(f"{quote(meta.get_field(name).column)} = %s" for name in changes)
    values = [
        meta.get_field(name).get_db_prep_save(value, connection) for name, value in changes.items()
    ]
    columns = ", ".join(quote(field.column) for field in meta.concrete_fields)
    # Names from the model and SQL compiled by Django; the values are parameters.
    sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {where} RETURNING {columns}"  # noqa: S608
    rows = queryset.model.objects.db_manager(queryset.db).raw(sql, [*values, *where_params])
    return next(iter(rows), None)


@dataclass
class PollSummary:
    """What one poll of polled work learned, as the lines its command and log print: the
    subclass's ``headline()``, the first changes, and the records it had to skip."""

    source: str = ""
    malformed: int = 0
    requests: int = 0
    changes: list = field(default_factory=list)

    def headline(self):
        raise NotImplementedError

    def lines(self):
        lines = [self.headline(), *(f"  {change}" for change in self.changes[:20])]
        if self.malformed:
            lines.append(f"  {self.malformed} records could not be read and were skipped.")
        return lines
