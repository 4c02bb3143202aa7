"""Keeping the busiest tables bounded: old webhook deliveries, old events, old import files.

Run daily by beat (``integrations.tasks.purge_old_history``). Work goes in batches of
``BATCH_SIZE`` rows, each its own short transaction that locks the rows it takes with SKIP LOCKED
and deletes them by primary key, re-checking the conditions: no statement holds locks for long,
two runs at once share the work instead of colliding, and a run killed midway keeps the batches
it committed (the next run does the rest).

Deliveries are kept by ``modified_at``, the time of their last change (delivered, failed, or
redelivered by an admin), not ``created_at``: a delivery that retried for a day, or one an admin
redelivered last week, keeps its log for the whole window after that. Events go only once fanned
out and no delivery refers to them (the foreign key is PROTECT), so a PSA never misses one.
Never purged: waiting or sending deliveries, service-request deliveries (escalation history),
and the audit log.
"""

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from core.models import Event
from customers.models import CustomerImport, CustomerImportStatusChoices
from integrations.models import WebhookDelivery, WebhookDeliveryStateChoices

logger = logging.getLogger(__name__)

BATCH_SIZE = 5000
FINAL_STATES = [WebhookDeliveryStateChoices.DELIVERED, WebhookDeliveryStateChoices.FAILED]
FINISHED_IMPORTS = [CustomerImportStatusChoices.SUCCEEDED, CustomerImportStatusChoices.FAILED]

# The keys of the counts purge() returns.
WEBHOOK_DELIVERIES = "webhook_deliveries"
WEBHOOK_ATTEMPTS = "webhook_attempts"
EVENTS = "events"
IMPORT_FILES = "customer_import_files"


def old_deliveries(cutoff):
    return WebhookDelivery.objects.filter(state__in=FINAL_STATES, modified_at__lt=cutoff)


def old_events(cutoff):
    referenced = WebhookDelivery.objects.filter(event=OuterRef("pk"))
    return Event.objects.filter(fanned_out_at__isnull=False, occurred_at__lt=cutoff).filter(
        ~Exists(referenced)
    )


def old_import_files(cutoff):
    return CustomerImport.objects.filter(
        status__in=FINISHED_IMPORTS, finished_at__lt=cutoff
    ).exclude(csv_text="")


def _in_batches(candidates, apply, batch, deadline):
    """Lock up to ``batch`` candidate ids and ``apply`` to them, per transaction, until none is
    left (True) or the deadline passes (False). ``apply(ids)`` re-checks and returns counts."""
    counts = {}
    while True:
        with transaction.atomic():
            ids = list(
                candidates.select_for_update(skip_locked=True)
                .order_by()
                .values_list("pk", flat=True)[:batch]
            )
            if ids:
                for key, count in apply(ids).items():
                    counts[key] = counts.get(key, 0) + count
        if len(ids) < batch:
            return counts, True
        if deadline is not None and time.monotonic() >= deadline:
            return counts, False


def purge_webhook_deliveries(cutoff, *, batch, deadline=None):
    def apply(ids):
        # only("pk"): the collector need not load the frozen bodies; attempts go by cascade.
        _total, deleted = old_deliveries(cutoff).filter(pk__in=ids).only("pk").delete()
        return {
            WEBHOOK_DELIVERIES: deleted.get(WebhookDelivery._meta.label, 0),
            WEBHOOK_ATTEMPTS: deleted.get("integrations.WebhookAttempt", 0),
        }

    return _in_batches(old_deliveries(cutoff), apply, batch, deadline)


def purge_events(cutoff, *, batch, deadline=None):
    def apply(ids):
        _total, deleted = old_events(cutoff).filter(pk__in=ids).only("pk").delete()
        return {EVENTS: deleted.get(Event._meta.label, 0)}

    return _in_batches(old_events(cutoff), apply, batch, deadline)


def blank_import_files(cutoff, *, batch, deadline=None):
    # The raw CSV is only read while an import runs; a finished one is never claimed again and
    # its pages never show the file, so keep the row and its error report, drop the customer data.
    def apply(ids):
        return {IMPORT_FILES: old_import_files(cutoff).filter(pk__in=ids).update(csv_text="")}

    return _in_batches(old_import_files(cutoff), apply, batch, deadline)


def purge(now=None, *, batch=None, time_budget=None):
    """Apply every retention rule. Returns ``(counts per table, finished)``; ``finished`` is False
    when ``time_budget`` seconds ran out first (the caller runs it again for the rest)."""
    now = now or timezone.now()
    batch = batch or BATCH_SIZE
    deadline = time.monotonic() + time_budget if time_budget is not None else None
    counts = {WEBHOOK_DELIVERIES: 0, WEBHOOK_ATTEMPTS: 0, EVENTS: 0, IMPORT_FILES: 0}
    # Deliveries first: deleting them is what frees their events.
    steps = [
        (purge_webhook_deliveries, settings.WEBHOOK_DELIVERY_RETENTION_DAYS),
        (purge_events, settings.EVENT_RETENTION_DAYS),
        (blank_import_files, settings.CUSTOMER_IMPORT_RETENTION_DAYS),
    ]
    finished = True
    for step, days in steps:
        done, finished = step(now - timedelta(days=days), batch=batch, deadline=deadline)
        for key, count in done.items():
            counts[key] += count
        if not finished:
            break
    logger.info(
        "retention: deleted %(webhook_deliveries)s webhook deliveries, %(webhook_attempts)s "
        "webhook attempts, %(events)s events; erased %(customer_import_files)s import files"
        + ("" if finished else " (time ran out before the backlog did)"),
        counts,
    )
    return counts, finished
