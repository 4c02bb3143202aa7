"""How long a full polling cycle over the partner connection's sources takes.

A cycle starts when the scheduler finds a source read through the connection due and none is
running (its start: the earliest time one was due), and ends when every enabled such source
has finished a poll since, well or not (its end: the last of those polls). Graph's per-tenant
limits and the poll interval decide how long that is; the Feeds page shows it.
"""

from django.db import transaction
from django.db.models import Max, Min, Q
from django.utils import timezone

from servicehealth.models import FeedSource, PollCycle


def _sources():
    return FeedSource.objects.through_connection().filter(enabled=True)


def start_if_due(now=None):
    """Open a cycle if none is running and a connection source is due. Returns the cycle."""
    now = now or timezone.now()
    PollCycle.get()
    with transaction.atomic():
        cycle = PollCycle.objects.select_for_update().get(pk=1)
        if cycle.started_at is not None:
            return cycle
        first_due = _sources().filter(next_poll_at__lte=now).aggregate(at=Min("next_poll_at"))
        if first_due["at"] is None:
            return cycle
        cycle.started_at = first_due["at"]
        cycle.sources = _sources().count()
        cycle.save(update_fields=["started_at", "sources"])
    return cycle


def source_finished():
    """Close the running cycle if every source has finished a poll since it started.

    Called after a poll's outcome is committed, so of two polls ending at once the later one
    sees both. Returns True when it closed the cycle.
    """
    started = PollCycle.objects.filter(pk=1).values_list("started_at", flat=True).first()
    if started is None or _pending(started).exists():
        return False
    with transaction.atomic():
        cycle = PollCycle.objects.select_for_update().get(pk=1)
        if cycle.started_at != started:  # another poll closed it meanwhile
            return False
        sources = _sources()
        cycle.last_started_at = started
        cycle.last_finished_at = (
            sources.aggregate(at=Max("last_finished_at"))["at"] or timezone.now()
        )
        cycle.last_sources = sources.count()
        cycle.last_failures = sources.filter(consecutive_failures__gt=0).count()
        cycle.started_at, cycle.sources = None, 0
        cycle.save()
    return True


def _pending(started):
    """Sources that have not finished a poll since ``started``."""
    return _sources().filter(Q(last_finished_at__isnull=True) | Q(last_finished_at__lt=started))


def progress():
    """The cycle row with ``finished_sources`` of the running one, for the Feeds page."""
    cycle = PollCycle.get()
    cycle.finished_sources = (
        cycle.sources - _pending(cycle.started_at).count() if cycle.started_at else 0
    )
    return cycle
