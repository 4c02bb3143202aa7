"""Sending webhook deliveries through the outbox (``WebhookDelivery`` rows).

``core.batch_outbox.BatchOutbox`` runs the cycle of ``core.outbox``, a subscription at a time: a
task for the subscription claims a batch of its due deliveries under one lease (only while it is
active), signs and POSTs them one after another over one kept-alive connection, and logs the
attempts, each with its status, duration and the start of the response, in bulk. A worker killed
mid-batch frees the rows when the lease runs out; the sweep hands them to another, which sends
the same ``webhook-id`` again. 2xx is delivered; 410 Gone is permanent and disables the
subscription; a redirect or another 4xx is permanent too (``outbound.transport`` classifies);
408, 429, 5xx and timeouts are retried on a schedule of growing waits, honouring
``Retry-After``, and end the batch: the deliveries after it wait for its retry. A delivery that
runs out of attempts is a dead letter (``failed``): the subscription's last error says so. A
subscription that has failed for ``WEBHOOK_DISABLE_AFTER_HOURS`` is disabled and admins are told.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from core import outbox
from core.batch_outbox import BatchOutbox
from integrations import notices
from integrations.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookDeliveryStateChoices,
    WebhookSubscription,
)
from integrations.sending import SendFailed, body_bytes, send

logger = logging.getLogger(__name__)

# The task that runs ``deliver_batch`` for a subscription (integrations.tasks); queued by name:
# tasks imports this module.
DELIVER_TASK = "integrations.tasks.deliver"
State = WebhookDeliveryStateChoices
ATTEMPT_OUTCOMES = {
    outbox.Outcome.SUCCESS: WebhookAttempt.Outcome.SUCCESS,
    outbox.Outcome.RETRY: WebhookAttempt.Outcome.RETRY,
    outbox.Outcome.DEAD_LETTER: WebhookAttempt.Outcome.FAILED,
}
# Waits before attempts 2, 3, …: a receiver that is down for a day still gets everything.
RETRY_SCHEDULE = (
    timedelta(seconds=5),
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)


class WebhookOutbox(BatchOutbox):
    model = WebhookDelivery
    task_name = DELIVER_TASK
    batch_by = "subscription_id"
    lease = timedelta(seconds=settings.DELIVERY_LEASE_SECONDS)
    # The schedule plus up to a tenth as much again; Retry-After up to an hour.
    retry = outbox.ScheduledRetry(
        max_attempts=len(RETRY_SCHEDULE) + 1,
        max_retry_after=timedelta(hours=1),
        jitter=0.1,
        schedule=RETRY_SCHEDULE,
    )
    failure_types = (SendFailed,)
    related = ("subscription",)
    touched = ("modified_at",)
    sweep_limit = 1000

    def claimable(self):
        # A disabled subscription's deliveries wait; they are neither sent nor lost.
        return WebhookDelivery.objects.filter(subscription__is_active=True)

    def send(self, row):
        return send(row.subscription, row.message_id, body_bytes(row))

    def classify(self, exc):
        return outbox.Failure(
            str(exc),
            permanent=exc.gone or exc.permanent,
            retry_after=exc.retry_after,
            status_code=exc.status_code,
            cause=exc,
        )

    def log_attempt(self, row, attempt):
        self._attempt_row(row, attempt).save()

    def log_attempts(self, attempts):
        WebhookAttempt.objects.bulk_create(
            [self._attempt_row(row, attempt) for row, attempt in attempts]
        )

    def _attempt_row(self, row, attempt):
        failure = attempt.failure
        if failure is None:
            status_code, excerpt = attempt.result
        else:
            status_code = failure.status_code
            excerpt = failure.cause.excerpt if failure.cause else ""
        return WebhookAttempt(
            delivery=row,
            number=attempt.number,
            started_at=attempt.started_at,
            duration_ms=attempt.duration_ms,
            status_code=status_code,
            outcome=ATTEMPT_OUTCOMES[attempt.outcome],
            response_excerpt=excerpt,
            error=failure.message[: outbox.ERROR_LENGTH] if failure else "",
        )

    def stops_batch(self, failure):
        # A 410 is permanent, and about the whole subscription: it is disabled.
        return not failure.permanent or _gone(failure)

    def claim_batch(self, key, now=None):
        rows, lease_until = super().claim_batch(key, now)
        # One subscription object for the batch: health written for one row is seen by the next.
        for row in rows[1:]:
            row.subscription = rows[0].subscription
        return rows, lease_until

    def success_changes(self, row, result, now):
        return {"state": State.DELIVERED, "delivered_at": now, "last_status_code": result[0]}

    def failure_changes(self, row, failure, now):
        return {"last_status_code": failure.status_code}

    def delivered(self, row, result, now):
        self.delivered_many([(row, result)], now)

    def delivered_many(self, delivered, now):
        # Only write a subscription when its health changes (or once a minute), not per row.
        subscriptions = {row.subscription_id: row.subscription for row, _result in delivered}
        for subscription in subscriptions.values():
            if (
                subscription.consecutive_failures
                or subscription.failing_since
                or subscription.last_success_at is None
                or now - subscription.last_success_at > timedelta(minutes=1)
            ):
                WebhookSubscription.objects.filter(pk=subscription.pk).update(
                    consecutive_failures=0, failing_since=None, last_success_at=now
                )
                subscription.consecutive_failures = 0
                subscription.failing_since, subscription.last_success_at = None, now

    def failed(self, row, failure, now):
        WebhookSubscription.objects.filter(pk=row.subscription_id).update(
            consecutive_failures=F("consecutive_failures") + 1,
            last_error=failure.message[: outbox.ERROR_LENGTH],
        )
        WebhookSubscription.objects.filter(
            pk=row.subscription_id, failing_since__isnull=True
        ).update(failing_since=now)
        # The batch's other rows see it too (``claim_batch``).
        subscription = row.subscription
        subscription.refresh_from_db()
        # A 410 disables it with its own reason (``dead_lettered``).
        if subscription.is_active and not _gone(failure) and _failed_too_long(subscription, now):
            _disable(
                subscription,
                _("Every delivery has failed since %(since)s (%(count)s attempts in a row).")
                % {
                    "since": subscription.failing_since.strftime("%Y-%m-%d %H:%M UTC"),
                    "count": subscription.consecutive_failures,
                },
            )

    def dead_lettered(self, row, failure, now):
        if _gone(failure):
            _disable(row.subscription, failure.message)
            return
        # Given up while the subscription stays on: its last error (on its page while it is
        # failing) says which delivery, beside the delivery's own "failed" in the log.
        WebhookSubscription.objects.filter(pk=row.subscription_id, is_active=True).update(
            last_error=ngettext(
                "Gave up on delivery %(id)s (%(event)s) after %(count)s attempt: %(error)s",
                "Gave up on delivery %(id)s (%(event)s) after %(count)s attempts: %(error)s",
                row.attempts,
            )
            % {
                "id": row.message_id,
                "event": row.event_type,
                "count": row.attempts,
                "error": failure.message[:1000],
            }
        )


def _gone(failure):
    return failure.cause is not None and failure.cause.gone


def _failed_too_long(subscription, now):
    return (
        subscription.failing_since is not None
        and now - subscription.failing_since
        >= timedelta(hours=settings.WEBHOOK_DISABLE_AFTER_HOURS)
        and subscription.consecutive_failures >= settings.WEBHOOK_DISABLE_AFTER_FAILURES
    )


def _disable(subscription, reason):
    updated = WebhookSubscription.objects.filter(pk=subscription.pk, is_active=True).update(
        is_active=False, disabled_at=timezone.now(), disabled_reason=reason[:255]
    )
    if updated:
        logger.warning("webhook subscription %s disabled: %s", subscription.pk, reason)
        transaction.on_commit(lambda: notices.subscription_disabled(subscription.pk))


OUTBOX = WebhookOutbox()
LEASE = OUTBOX.lease
claim = OUTBOX.claim
deliver = OUTBOX.deliver
deliver_batch = OUTBOX.deliver_batch
queue = OUTBOX.queue
queue_batches = OUTBOX.queue_batches
sweep = OUTBOX.sweep
redeliver = OUTBOX.redeliver
