"""Sending webhook deliveries through the outbox (``WebhookDelivery`` rows).

``core.outbox.Outbox`` runs the cycle, as for service-request deliveries: a worker claims a row
under a lease (only while its subscription is active), signs and POSTs it, and logs the attempt
with its status, duration and the start of the response. A worker killed mid-send frees the row
when the lease runs out; the sweep hands it to another, which sends the same ``webhook-id``
again. 2xx is delivered; 410 Gone is permanent and disables the subscription; a redirect or
another 4xx is permanent too (``outbound.transport`` classifies); 408, 429, 5xx and timeouts are
retried on a schedule of growing waits, honouring ``Retry-After``. A delivery that runs out of attempts is a dead letter (``failed``): the
subscription's last error says so. A subscription that has failed for
``WEBHOOK_DISABLE_AFTER_HOURS`` is disabled and admins are told.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from core import outbox
from integrations import notices
from integrations.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookDeliveryStateChoices,
    WebhookSubscription,
)
from integrations.sending import SendFailed, body_bytes, send

logger = logging.getLogger(__name__)

# The task that runs ``deliver`` (integrations.tasks); queued by name: tasks imports this module.
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


class WebhookOutbox(outbox.Outbox):
    model = WebhookDelivery
    task_name = DELIVER_TASK
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
        failure = attempt.failure
        if failure is None:
            status_code, excerpt = attempt.result
        else:
            status_code = failure.status_code
            excerpt = failure.cause.excerpt if failure.cause else ""
        WebhookAttempt.objects.create(
            delivery=row,
            number=attempt.number,
            started_at=attempt.started_at,
            duration_ms=attempt.duration_ms,
            status_code=status_code,
            outcome=ATTEMPT_OUTCOMES[attempt.outcome],
            response_excerpt=excerpt,
            error=failure.message[: outbox.ERROR_LENGTH] if failure else "",
        )

    def success_changes(self, row, result, now):
        return {"state": State.DELIVERED, "delivered_at": now, "last_status_code": result[0]}

    def failure_changes(self, row, failure, now):
        return {"last_status_code": failure.status_code}

    def delivered(self, row, result, now):
        # Only write the subscription when its health changes (or once a minute), not per row.
        subscription = row.subscription
        if (
            subscription.consecutive_failures
            or subscription.failing_since
            or subscription.last_success_at is None
            or now - subscription.last_success_at > timedelta(minutes=1)
        ):
            WebhookSubscription.objects.filter(pk=subscription.pk).update(
                consecutive_failures=0, failing_since=None, last_success_at=now
            )

    def failed(self, row, failure, now):
        WebhookSubscription.objects.filter(pk=row.subscription_id).update(
            consecutive_failures=F("consecutive_failures") + 1,
            last_error=failure.message[: outbox.ERROR_LENGTH],
        )
        WebhookSubscription.objects.filter(
            pk=row.subscription_id, failing_since__isnull=True
        ).update(failing_since=now)
        subscription = WebhookSubscription.objects.get(pk=row.subscription_id)
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
            last_error=_(
                "Gave up on delivery %(id)s (%(event)s) after %(count)s attempts: %(error)s"
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
queue = OUTBOX.queue
sweep = OUTBOX.sweep
redeliver = OUTBOX.redeliver
