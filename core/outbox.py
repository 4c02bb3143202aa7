"""The lease rule that every outbox (service-request and webhook deliveries) claims rows by.

An outbox row has ``state`` (``pending`` / ``sending`` / …), ``next_attempt_at``, ``lease_until``
and ``attempts``. A worker takes a row with one conditional UPDATE, so two workers never hold it
at once; a worker that dies while ``sending`` frees it when the lease runs out, and the sweep
hands it to another.
"""

import logging
from datetime import timedelta

from django.db.models import F, Q

logger = logging.getLogger(__name__)

PENDING, SENDING = "pending", "sending"
# A grace period keeps the sweep from doubling the message queued at commit.
SWEEP_GRACE = timedelta(seconds=10)


def _takeable(now, grace=timedelta(0)):
    return Q(state=PENDING, next_attempt_at__lte=now - grace) | Q(
        state=SENDING, lease_until__lt=now
    )


def claim(queryset, now, lease):
    """Take the row(s) of ``queryset`` that are due or abandoned; True if this worker got one."""
    return bool(
        queryset.filter(_takeable(now)).update(
            state=SENDING, lease_until=now + lease, attempts=F("attempts") + 1
        )
    )


def still_held(row):
    """Lock ``row``'s table row; True while it is still this claim's (``row.attempts`` is the
    number the claim gave it). False when the lease ran out mid-send and another worker has
    claimed it since: that claim records the outcome, this one only logs its attempt."""
    held = (
        type(row)
        .objects.select_for_update()
        .filter(pk=row.pk, state=SENDING, attempts=row.attempts)
        .values_list("pk", flat=True)
    )
    if list(held):
        return True
    logger.warning(
        "%s %s: the lease ran out during attempt %s and another worker took it over; only the "
        "attempt is recorded (the same key, so one effect at the receiver)",
        row._meta.verbose_name,
        row.pk,
        row.attempts,
    )
    return False


def due(queryset, now, limit):
    """Ids of rows the sweep should queue: due a while ago, or whose worker died holding them."""
    return list(
        queryset.filter(_takeable(now, SWEEP_GRACE))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
