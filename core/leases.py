"""Rows that record a piece of recurring work (a feed to poll): how a scheduler queues them and a
worker takes them, so two of either never act on one row at once.

The row carries ``next_poll_at`` (when it is due), ``queued_until`` (a scheduler queued it; runs
out if the message is lost) and ``lease_until`` (a worker holds it; runs out if the worker dies).
Both marks expire on their own, so nothing is ever stuck.
"""

from django.db import transaction
from django.db.models import Q


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
