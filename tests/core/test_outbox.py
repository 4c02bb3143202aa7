"""The outbox cycle itself, with a tiny user of it that sends what the test scripts.

The user keeps its rows in the webhook delivery table (any outbox-shaped model would do) and
never touches the network: ``send`` returns or raises the next scripted answer.
"""

import logging
import time
from dataclasses import replace
from datetime import timedelta

import pytest
from django.utils import timezone

from core import batch_outbox, outbox
from integrations import delivery as webhook_delivery
from integrations.models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from servicerequests import delivery as escalation_delivery
from tests.integrations.helpers import SECRET

pytestmark = pytest.mark.django_db

OUTCOMES = {
    outbox.Outcome.SUCCESS: "success",
    outbox.Outcome.RETRY: "retry",
    outbox.Outcome.DEAD_LETTER: "failed",
}


MINUTE = timedelta(minutes=1)


class Refused(Exception):
    def __init__(self, message, *, permanent=False, retry_after=None, status=503):
        super().__init__(message)
        self.permanent, self.retry_after, self.status = permanent, retry_after, status


class ScriptedOutbox(outbox.Outbox):
    model = WebhookDelivery
    task_name = "tests.core.deliver"
    lease = timedelta(seconds=30)
    retry = outbox.ExponentialRetry(
        max_attempts=3, max_retry_after=5 * MINUTE, jitter=0.5, first=MINUTE / 6, longest=MINUTE
    )
    failure_types = (Refused,)

    def __init__(self, *answers):
        # Each answer: a status to return, an exception to raise, or a callable of the row
        # giving one of those (run mid-send).
        self.answers = list(answers)
        self.dead_letters = []
        self.queued = []

    def send(self, row):
        answer = self.answers.pop(0)
        answer = answer(row) if callable(answer) else answer
        if isinstance(answer, Exception):
            raise answer
        return answer

    def classify(self, exc):
        return outbox.Failure(
            str(exc), permanent=exc.permanent, retry_after=exc.retry_after, status_code=exc.status
        )

    def log_attempt(self, row, attempt):
        WebhookAttempt.objects.create(
            delivery=row,
            number=attempt.number,
            started_at=attempt.started_at,
            duration_ms=attempt.duration_ms,
            status_code=attempt.failure.status_code if attempt.failure else attempt.result,
            outcome=OUTCOMES[attempt.outcome],
            error=attempt.failure.message if attempt.failure else "",
        )

    def dead_lettered(self, row, failure, now):
        self.dead_letters.append((row.pk, row.attempts, failure.message))

    def queue(self, ids):
        self.queued.append(list(ids))
        return True


class ScriptedBatchOutbox(ScriptedOutbox, batch_outbox.BatchOutbox):
    batch_by = "subscription_id"
    record_every = timedelta(0)  # each row recorded as soon as it is sent

    def queue_receivers(self, keys):
        self.queued.append(list(keys))
        return True


class Killed(BaseException):
    """The worker's process dies (SIGKILL) mid-send: nothing after it runs, nothing is caught."""


def killed_mid_send(row):
    raise Killed()


def subscription_rows(count):
    subscription = WebhookSubscription(name="Outbox test", target_url="http://127.0.0.1:9/")
    subscription.secret = SECRET
    subscription.save()
    return [
        WebhookDelivery.objects.create(
            subscription=subscription, event_type="webhook.test", payload={}
        )
        for _ in range(count)
    ]


@pytest.fixture
def row():
    return subscription_rows(1)[0]


def make_due(row):
    WebhookDelivery.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now())


def logged(row):
    return list(row.attempt_log.values_list("number", "outcome"))


def test_a_delivery_is_claimed_sent_and_recorded(row):
    user = ScriptedOutbox(204)
    assert user.deliver(row.pk) == "delivered"
    row.refresh_from_db()
    assert (row.state, row.attempts, row.lease_until) == ("delivered", 1, None)
    assert row.delivered_at is not None
    assert logged(row) == [(1, "success")]
    assert user.deliver(row.pk) is None  # delivered: never claimed again


@pytest.mark.parametrize("answer", [204, Refused("refused for good", permanent=True)])
def test_a_claim_whose_lease_ran_out_mid_send_only_logs_its_attempt(row, answer):
    user, newer = ScriptedOutbox(), ScriptedOutbox()
    taken_over = []

    def outlast_the_lease(claimed):
        # While this worker sends, its lease runs out and another worker takes the row.
        later = timezone.now() + user.lease + timedelta(seconds=1)
        taken_over.append(newer.claim(claimed.pk, now=later))
        return answer

    user.answers.append(outlast_the_lease)
    assert user.deliver(row.pk) is None
    row.refresh_from_db()
    assert (row.state, row.attempts) == ("sending", 2)  # the newer claim's, untouched
    assert user.dead_letters == []  # only the claim that holds the row gives up on it
    first = (1, "success" if answer == 204 else "failed")
    assert logged(row) == [first]

    # The newer claim records the outcome.
    assert newer.record_success(taken_over[0], 201, timezone.now(), time.monotonic()) == "delivered"
    assert logged(row) == [first, (2, "success")]


def test_a_transient_failure_is_retried_after_a_jittered_wait(row):
    user = ScriptedOutbox(Refused("503 from the receiver"))
    before = timezone.now()
    assert user.deliver(row.pk) == "pending"
    after = timezone.now()
    row.refresh_from_db()
    assert (row.state, row.lease_until, row.last_error) == (
        "pending",
        None,
        "503 from the receiver",
    )
    # The first wait is 10 s plus up to half as much again.
    assert before + timedelta(seconds=10) <= row.next_attempt_at
    assert row.next_attempt_at <= after + timedelta(seconds=15)
    assert user.deliver(row.pk) is None  # not due yet


def test_retry_after_is_honoured_within_the_cap(row):
    user = ScriptedOutbox(Refused("429", retry_after=7), Refused("429", retry_after=10**6))
    before = timezone.now()
    assert user.deliver(row.pk) == "pending"
    row.refresh_from_db()
    waited = row.next_attempt_at - before
    assert timedelta(seconds=7) <= waited <= timedelta(seconds=7) + (timezone.now() - before)
    make_due(row)
    before = timezone.now()
    user.deliver(row.pk)
    row.refresh_from_db()
    capped = row.next_attempt_at - before
    assert timedelta(minutes=5) <= capped <= timedelta(minutes=5) + (timezone.now() - before)


@pytest.mark.parametrize(
    ("policy", "attempts", "low", "high"),
    [
        # Escalations: 5 s doubling up to 30 min, plus up to half again.
        (escalation_delivery.OUTBOX.retry, 1, 5, 7.5),
        (escalation_delivery.OUTBOX.retry, 4, 40, 60),
        (escalation_delivery.OUTBOX.retry, 12, 1800, 2700),
        # Webhooks: the fixed schedule, plus up to a tenth again; the last wait repeats.
        (webhook_delivery.OUTBOX.retry, 1, 5, 5.5),
        (webhook_delivery.OUTBOX.retry, 4, 1800, 1980),
        (webhook_delivery.OUTBOX.retry, 20, 36000, 39600),
    ],
)
def test_each_retry_policy_keeps_its_figures_and_spreads_its_waits(policy, attempts, low, high):
    waits = {policy.wait(attempts).total_seconds() for _ in range(50)}
    assert all(low <= wait <= high for wait in waits), waits
    assert len(waits) > 1  # jittered, not one fixed wait for every row
    assert policy.wait(attempts, retry_after=3) == timedelta(seconds=3)


def test_the_attempt_limits_are_unchanged():
    assert escalation_delivery.OUTBOX.retry.max_attempts == 8
    assert webhook_delivery.OUTBOX.retry.max_attempts == 9


def test_the_last_attempt_dead_letters_the_row_and_tells_the_user_once(row, caplog):
    user = ScriptedOutbox(*[Refused(f"503, try {n}") for n in (1, 2, 3)])
    states = []
    with caplog.at_level(logging.WARNING, logger="core.outbox"):
        for _ in range(3):
            states.append(user.deliver(row.pk))
            make_due(row)
    assert states == ["pending", "pending", "failed"]
    assert user.dead_letters == [(row.pk, 3, "503, try 3")]
    assert logged(row) == [(1, "retry"), (2, "retry"), (3, "failed")]
    row.refresh_from_db()
    assert (row.state, row.last_error) == (outbox.DEAD_LETTER, "503, try 3")
    assert "dead letter after 3 attempts" in caplog.text
    assert user.deliver(row.pk) is None  # a dead letter stays put until redelivered
    assert user.sweep(now=timezone.now() + timedelta(days=1)) == []


def test_a_permanent_failure_dead_letters_at_once(row):
    user = ScriptedOutbox(Refused("401: token revoked", permanent=True, status=401))
    assert user.deliver(row.pk) == "failed"
    assert user.dead_letters == [(row.pk, 1, "401: token revoked")]
    assert logged(row) == [(1, "failed")]


def test_an_unexpected_error_is_logged_and_retried(row, caplog):
    user = ScriptedOutbox(KeyError("surprise"))
    with caplog.at_level(logging.ERROR, logger="core.outbox"):
        assert user.deliver(row.pk) == "pending"
    row.refresh_from_db()
    assert row.last_error == "Unexpected error: KeyError"
    assert [r.exc_info[0] for r in caplog.records if r.exc_info] == [KeyError]
    assert user.dead_letters == []


def test_redeliver_restarts_the_cycle_and_the_numbering_goes_on(
    row, django_capture_on_commit_callbacks
):
    user = ScriptedOutbox(Refused("gone", permanent=True), 204)
    assert user.deliver(row.pk) == "failed"
    with django_capture_on_commit_callbacks(execute=True):
        assert user.redeliver(WebhookDelivery.objects.filter(pk=row.pk)) == [row.pk]
        assert user.queued == []  # only after commit
    assert user.queued == [[row.pk]]
    row.refresh_from_db()
    assert (row.state, row.attempts, row.lease_until) == ("pending", 0, None)
    assert row.next_attempt_at <= timezone.now()
    assert user.deliver(row.pk) == "delivered"
    row.refresh_from_db()
    assert row.attempts == 1
    assert logged(row) == [(1, "failed"), (2, "success")]


def test_redeliver_leaves_a_row_being_sent_alone(row, django_capture_on_commit_callbacks):
    user = ScriptedOutbox()
    assert user.claim(row.pk) is not None
    with django_capture_on_commit_callbacks(execute=True):
        assert user.redeliver(WebhookDelivery.objects.filter(pk=row.pk)) == []
    row.refresh_from_db()
    assert (row.state, row.attempts) == ("sending", 1)


def test_the_sweep_queues_due_and_abandoned_rows(row):
    user = ScriptedOutbox()
    assert user.sweep() == []  # just written: the commit's own message wakes a worker
    later = timezone.now() + outbox.SWEEP_GRACE + timedelta(seconds=1)
    assert user.sweep(now=later) == [row.pk]
    assert user.claim(row.pk) is not None
    assert user.sweep(now=later) == []  # held under its lease
    abandoned = timezone.now() + user.lease + timedelta(seconds=1)
    assert user.sweep(now=abandoned) == [row.pk]
    assert user.queued == [[row.pk], [row.pk]]


def test_a_webhook_that_runs_out_of_attempts_says_so_on_its_subscription(
    row, psa_receiver, monkeypatch
):
    # Its users' own notices: a webhook given up while the subscription stays on (no 410, not
    # failing long enough to be disabled) is named in the subscription's last error.
    once = replace(webhook_delivery.OUTBOX.retry, max_attempts=1)
    monkeypatch.setattr(webhook_delivery.OUTBOX, "retry", once)
    WebhookSubscription.objects.filter(pk=row.subscription_id).update(
        target_url=psa_receiver.base_url
    )
    psa_receiver.respond_next(500)
    assert webhook_delivery.deliver(row.pk) == "failed"
    subscription = WebhookSubscription.objects.get(pk=row.subscription_id)
    assert subscription.is_active and subscription.is_failing
    assert subscription.last_error.startswith(f"Gave up on delivery {row.message_id}")
    assert "after 1 attempt: " in subscription.last_error
    assert row.attempt_log.get().outcome == "failed"


def test_a_worker_killed_mid_batch_leaves_only_the_unrecorded_rows_to_retry():
    rows = subscription_rows(4)
    key = rows[0].subscription_id
    with pytest.raises(Killed):
        ScriptedBatchOutbox(204, 204, killed_mid_send).deliver_batch(key)
    states = dict(WebhookDelivery.objects.values_list("pk", "state"))
    # Recorded as sent: the first two; the third was in flight, the fourth not started.
    assert [states[r.pk] for r in rows] == ["delivered", "delivered", "sending", "sending"]
    assert ScriptedBatchOutbox().deliver_batch(key) == {}  # held until the lease runs out

    WebhookDelivery.objects.filter(state="sending").update(lease_until=timezone.now())
    newer = ScriptedBatchOutbox(204, 204)
    assert newer.deliver_batch(key) == {rows[2].pk: "delivered", rows[3].pk: "delivered"}
    # Each delivered once in the log; the killed claim counted in attempts, never logged.
    assert [logged(r) for r in rows] == [[(1, "success")]] * 4
    assert [WebhookDelivery.objects.get(pk=r.pk).attempts for r in rows] == [1, 1, 2, 2]


def test_a_transient_failure_mid_batch_hands_the_rest_back_untried():
    rows = subscription_rows(4)
    user = ScriptedBatchOutbox(204, Refused("503 from the receiver"))
    assert user.deliver_batch(rows[0].subscription_id) == {
        rows[0].pk: "delivered",
        rows[1].pk: "pending",
    }
    failed, *untried = WebhookDelivery.objects.filter(pk__in=[r.pk for r in rows[1:]]).order_by(
        "pk"
    )
    assert (failed.attempts, logged(failed)) == (1, [(1, "retry")])
    assert [(r.state, r.attempts, r.next_attempt_at) for r in untried] == [
        ("pending", 0, failed.next_attempt_at)
    ] * 2
    assert user.queued == []  # due with the retry: the sweep queues them then
