"""Opening requests and delivering them through each channel against local simulators."""

import json
import time
from dataclasses import replace
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from core.models import AuditEntry
from core.outbox import SWEEP_GRACE
from servicerequests import channel_updates, delivery, services
from servicerequests.models import (
    Channel,
    Delivery,
    DeliveryAttempt,
    TimelineEntry,
)
from tests.customers.factories import CustomerFactory
from tests.servicerequests.helpers import channel, deliver_now, receiver_channel, topic


@pytest.fixture
def open_request(db, cast, django_capture_on_commit_callbacks):
    """Open a request routed to ``target`` (the only enabled channel of its category)."""

    def make(target, severity="moderate", **fields):
        Channel.objects.exclude(pk=target.pk).update(enabled=False)
        values = {
            "title": "Mail flow stopped",
            "description": "Since 09:00 no mail arrives.",
            "severity": severity,
            "support_topic": topic(target.category),
            "customer": CustomerFactory(),
            "contact_name": "Elif Kaya",
            "contact_email": "elif@customer.example",
        }
        values.update(fields)
        # The queue-on-commit call would need a broker; these tests deliver synchronously.
        return services.open_service_request(actor=cast["helpdesk_agent"], **values)

    return make


def pc_channel(simulator):
    return channel(
        "partner_center", endpoint=simulator.base_url, credentials={"access_token": "pc-test-token"}
    )


def test_opening_writes_the_request_its_outbox_row_timeline_and_audit(
    open_request, webhook_receiver
):
    service_request = open_request(receiver_channel(webhook_receiver), severity="critical")
    assert service_request.number == f"SR-{service_request.pk:06d}"
    assert service_request.status == "pending_delivery"
    assert service_request.response_due_at - service_request.created_at < timedelta(
        hours=2, seconds=1
    )
    assert Delivery.objects.get(service_request=service_request).state == "pending"
    kinds = list(service_request.timeline.values_list("kind", flat=True))
    assert kinds == ["created", "routed"]
    assert AuditEntry.objects.filter(action="servicerequest.created").count() == 1


def test_webhook_delivery_is_signed_and_carries_the_idempotency_key(open_request, webhook_receiver):
    service_request = open_request(receiver_channel(webhook_receiver))
    assert deliver_now(service_request) == "delivered"
    received = webhook_receiver.deliveries[-1]
    assert received.signature_valid is True
    outbox = Delivery.objects.get(service_request=service_request)
    assert received.idempotency_key == str(outbox.idempotency_key)
    assert received.json["number"] == service_request.number
    service_request.refresh_from_db()
    assert service_request.status == "open"
    assert service_request.channel_reference == received.ticket_id
    attempt = DeliveryAttempt.objects.get()
    assert attempt.outcome == "success" and attempt.status_code == 201


@pytest.mark.parametrize("legacy", [True, False])
def test_webhook_delivery_carries_the_deprecated_header_only_while_legacy_is_on(
    open_request, webhook_receiver, settings, legacy
):
    settings.CHANNEL_LEGACY_SIGNATURE = legacy
    service_request = open_request(receiver_channel(webhook_receiver))
    webhook_receiver.respond_next(503)
    assert [deliver_now(service_request) for _ in range(2)] == ["pending", "delivered"]
    outbox = Delivery.objects.get(service_request=service_request)
    # Standard Webhooks, verified by the receiver, under one webhook-id on every retry.
    assert {d.headers.get("webhook-id") for d in webhook_receiver.deliveries} == {
        f"msg_{outbox.idempotency_key}"
    }
    received = webhook_receiver.deliveries[-1]
    assert received.signature_valid is True
    if legacy:
        assert webhook_receiver.check_legacy_signature(received.headers, received.body) is None
    else:
        assert received.headers.get("X-Portal-Signature") is None


@pytest.mark.parametrize(("legacy", "expected_state"), [(True, "delivered"), (False, "failed")])
def test_a_receiver_still_checking_the_old_header_works_only_while_legacy_is_on(
    open_request, webhook_receiver, settings, legacy, expected_state
):
    settings.CHANNEL_LEGACY_SIGNATURE = legacy
    webhook_receiver.legacy = True
    service_request = open_request(receiver_channel(webhook_receiver))
    assert deliver_now(service_request) == expected_state
    assert webhook_receiver.deliveries[-1].signature_valid is legacy


def test_a_whsec_secret_that_is_not_base64_fails_without_sending(open_request, webhook_receiver):
    target = receiver_channel(webhook_receiver)
    target.set_credentials({"signing_secret": "whsec_" + "a" * 21})
    target.save()
    assert deliver_now(open_request(target)) == "failed"
    assert "not base64" in DeliveryAttempt.objects.get().error
    assert webhook_receiver.deliveries == []


@pytest.mark.parametrize(
    ("script", "expected_state", "attempts_logged"),
    [
        ({"status": 503}, "pending", 1),
        ({"status": 429, "headers": {"Retry-After": "7"}}, "pending", 1),
        ({"status": 200, "delay": 3}, "pending", 1),  # hangs past the client's timeout
        ({"status": 400}, "failed", 1),
        ({"status": 410}, "failed", 1),
    ],
)
def test_webhook_failures_are_classified(
    monkeypatch, open_request, webhook_receiver, script, expected_state, attempts_logged
):
    from servicerequests.channels import base

    monkeypatch.setattr(base, "TIMEOUT", (2, 1))  # the hang case: give up after a second
    service_request = open_request(receiver_channel(webhook_receiver))
    webhook_receiver.respond_next(**script)
    assert deliver_now(service_request) == expected_state
    outbox = Delivery.objects.get(service_request=service_request)
    assert DeliveryAttempt.objects.filter(delivery=outbox).count() == attempts_logged
    service_request.refresh_from_db()
    if expected_state == "pending":
        assert outbox.next_attempt_at > timezone.now()
        assert service_request.status == "pending_delivery"
        if script.get("headers"):
            assert outbox.next_attempt_at >= timezone.now() + timedelta(seconds=6)
    else:
        assert service_request.status == "delivery_failed"
        channel_row = Channel.objects.get(pk=outbox.channel_id)
        assert channel_row.needs_attention is True
        assert str(script["status"]) in channel_row.last_error


def test_a_retry_after_a_lost_answer_does_not_open_a_second_ticket(open_request, webhook_receiver):
    service_request = open_request(receiver_channel(webhook_receiver))
    webhook_receiver.respond_next(502, process=True)  # the ticket is made, the answer is lost
    assert deliver_now(service_request) == "pending"
    assert deliver_now(service_request) == "delivered"
    assert len(webhook_receiver.tickets) == 1
    assert len(webhook_receiver.deliveries) == 2


def test_a_delivery_gives_up_after_the_attempt_limit(open_request, webhook_receiver, monkeypatch):
    monkeypatch.setattr(delivery.OUTBOX, "retry", replace(delivery.OUTBOX.retry, max_attempts=3))
    service_request = open_request(receiver_channel(webhook_receiver))
    webhook_receiver.respond_next(500, times=3)
    states = [deliver_now(service_request) for _ in range(3)]
    assert states == ["pending", "pending", "failed"]
    entry = TimelineEntry.objects.get(service_request=service_request, kind="delivery_failed")
    assert entry.message.startswith("Delivery failed for good after 3 attempts: ")


def test_a_delivery_refused_for_good_at_once_says_so(open_request, webhook_receiver):
    service_request = open_request(receiver_channel(webhook_receiver))
    webhook_receiver.respond_next(422)
    assert deliver_now(service_request) == "failed"
    entry = TimelineEntry.objects.get(service_request=service_request, kind="delivery_failed")
    assert entry.message.startswith("Delivery failed for good at the first attempt: ")


def test_partner_center_delivery_uses_its_documented_shape(open_request, partner_center_simulator):
    service_request = open_request(pc_channel(partner_center_simulator))
    assert deliver_now(service_request) == "delivered"
    method, path, headers, body = partner_center_simulator.requests[-1]
    assert (method, path) == ("POST", "/v1/servicerequests/en-US")
    sent = json.loads(body)
    assert sent["Title"] == "Mail flow stopped"
    assert sent["Severity"] == "moderate"
    assert sent["SupportTopicId"] == "32444673"
    assert headers["MS-RequestId"] == str(Delivery.objects.get().idempotency_key)
    service_request.refresh_from_db()
    assert service_request.channel_reference == partner_center_simulator.created[0].id


def test_partner_center_status_and_notes_come_back(open_request, partner_center_simulator):
    service_request = open_request(pc_channel(partner_center_simulator))
    deliver_now(service_request)
    partner_center_simulator.advance(601)  # Microsoft asks for details
    assert channel_updates.poll_partner_center_statuses() == 1
    service_request.refresh_from_db()
    assert service_request.status == "attention_needed"
    assert service_request.first_response_at is not None
    assert service_request.notes.filter(from_channel=True).exists()
    assert channel_updates.poll_partner_center_statuses() == 0  # nothing new: nothing written
    partner_center_simulator.advance(1800)
    channel_updates.poll_partner_center_statuses()
    service_request.refresh_from_db()
    assert service_request.status == "closed" and service_request.closed_at


def test_a_partner_center_token_refusal_flags_the_channel(open_request, partner_center_simulator):
    target = channel(
        "partner_center",
        endpoint=partner_center_simulator.base_url,
        credentials={"access_token": "expired"},
    )
    service_request = open_request(target)
    assert deliver_now(service_request) == "failed"
    target.refresh_from_db()
    assert target.needs_attention and "401" in target.last_error


def test_email_delivery(open_request, mailoutbox):
    target = channel("email", endpoint="escalations@partner.example")
    service_request = open_request(target)
    assert deliver_now(service_request) == "delivered"
    assert mail.outbox[0].to == ["escalations@partner.example"]
    assert service_request.number in mail.outbox[0].subject
    service_request.refresh_from_db()
    assert service_request.channel_reference == mail.outbox[0].extra_headers["Message-ID"].strip(
        "<>"
    )


def test_manual_delivery_waits_for_the_agent(open_request, cast):
    target = channel(
        "manual", endpoint="https://partner.microsoft.com/dashboard/support/servicerequests/create"
    )
    service_request = open_request(target)
    assert deliver_now(service_request) == "manual"
    link = target.adapter().deep_link(service_request)
    assert link.startswith("https://partner.microsoft.com/") and "Mail+flow+stopped" in link
    services.record_manual_reference(
        service_request, "2611270010000123", actor=cast["helpdesk_agent"]
    )
    service_request.refresh_from_db()
    assert (service_request.status, service_request.channel_reference) == (
        "open",
        "2611270010000123",
    )


def test_a_delivery_cannot_be_claimed_twice(open_request, webhook_receiver):
    service_request = open_request(receiver_channel(webhook_receiver))
    outbox = Delivery.objects.get(service_request=service_request)
    assert delivery.claim(outbox.pk) is not None
    assert delivery.claim(outbox.pk) is None
    later = timezone.now() + delivery.LEASE + timedelta(seconds=1)
    assert delivery.claim(outbox.pk, now=later) is not None  # the first worker died


def test_a_worker_whose_lease_ran_out_mid_send_leaves_the_outcome_to_the_next(
    open_request, webhook_receiver
):
    service_request = open_request(receiver_channel(webhook_receiver))
    outbox = Delivery.objects.get(service_request=service_request)
    slow = delivery.claim(outbox.pk)
    # The first worker's send outlasts its lease; a second worker takes the row over.
    later = timezone.now() + delivery.LEASE + timedelta(seconds=1)
    fresh = delivery.claim(outbox.pk, now=later)
    assert (slow.attempts, fresh.attempts) == (1, 2)

    for worker in (slow, fresh):
        result = worker.channel.adapter().send(worker)
        recorded = delivery.OUTBOX.record_success(worker, result, timezone.now(), time.monotonic())
        if worker is slow:
            # Only its attempt is logged: the row, the timeline and the status are the
            # newer claim's to write.
            assert recorded is None
            outbox.refresh_from_db()
            assert outbox.state == "sending"
            assert not service_request.timeline.filter(kind="delivered").exists()
        else:
            assert recorded == "delivered"
    assert outbox.attempt_log.count() == 2
    assert service_request.timeline.filter(kind="delivered").count() == 1
    assert len(webhook_receiver.tickets) == 1  # both sends carried the same idempotency key


def test_the_sweep_requeues_what_was_lost(open_request, webhook_receiver, monkeypatch):
    service_request = open_request(receiver_channel(webhook_receiver))
    outbox = Delivery.objects.get(service_request=service_request)
    queued = []
    monkeypatch.setattr(delivery.OUTBOX, "queue", queued.extend)
    assert delivery.sweep() == []  # just queued at commit: within the grace period
    later = timezone.now() + SWEEP_GRACE + timedelta(seconds=1)
    assert delivery.sweep(now=later) == [outbox.pk]
    assert queued == [outbox.pk]


def test_an_admin_retries_a_failed_delivery(open_request, webhook_receiver, cast):
    service_request = open_request(receiver_channel(webhook_receiver))
    webhook_receiver.respond_next(400)
    assert deliver_now(service_request) == "failed"
    services.retry_delivery(service_request, actor=cast["global_admin"])
    assert deliver_now(service_request) == "delivered"
    assert len(webhook_receiver.tickets) == 1


@pytest.mark.parametrize(
    ("fault", "expected_state"),
    [
        ({"status": 503, "headers": {"Retry-After": "3"}}, "pending"),
        ({"status": 429, "headers": {"Retry-After": "2"}}, "pending"),
        ({"status": 500}, "pending"),
        ({"status": 200, "delay": 3}, "pending"),  # no answer within the timeout
        ({"status": 400}, "failed"),
    ],
)
def test_partner_center_failures_are_classified(
    open_request, partner_center_simulator, monkeypatch, fault, expected_state
):
    from servicerequests.channels import base

    monkeypatch.setattr(base, "TIMEOUT", (2, 1))
    service_request = open_request(pc_channel(partner_center_simulator))
    partner_center_simulator.fail_next("/v1/servicerequests/", method="POST", **fault)
    assert deliver_now(service_request) == expected_state
    attempt = DeliveryAttempt.objects.get()
    assert attempt.outcome == ("transient" if expected_state == "pending" else "permanent")
    if expected_state == "pending":
        # The retry, with the same key, creates the request once.
        partner_center_simulator.release()
        assert deliver_now(service_request) == "delivered"
        assert len(partner_center_simulator.created) == 1


def test_a_broker_outage_does_not_slow_every_request(monkeypatch):
    from core import broker

    calls = []

    def refuse(*args, **options):
        calls.append((args, options))
        raise ConnectionError("broker down")

    monkeypatch.setattr(broker, "_down_until", 0.0)
    monkeypatch.setattr(broker, "send_tasks", refuse)
    assert delivery.queue(1) is False
    assert delivery.queue(2) is False  # skipped: the broker was just found down
    assert calls == [(([("servicerequests.tasks.deliver", (1,))],), {})]
    monkeypatch.setattr(broker, "_down_until", 0.0)  # the backoff ran out
    assert delivery.queue(3) is False
    assert len(calls) == 2
