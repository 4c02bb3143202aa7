"""Outbound webhooks: fan-out, Standard Webhooks signatures, retries, disabling, redelivery.

Deliveries go over real HTTP to a PSA receiver simulator on loopback that verifies signatures
with the ``standardwebhooks`` library.
"""

import base64
import json
import time
import uuid
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from core import events
from core.models import Event, EventTypeChoices
from integrations import delivery, fanout, sending, services
from integrations.models import (
    PsaConnection,
    WebhookAttempt,
    WebhookAuthChoices,
    WebhookDelivery,
    WebhookSubscription,
)
from simulators.http import SimulatorServer
from simulators.psa_webhooks import PsaWebhookReceiver
from tests.customers.factories import CustomerFactory
from tests.helpers import worker_in_thread
from tests.integrations.helpers import SECRET, incident_event
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db


def subscribe(admin, url, event_types=None, secret=SECRET, customers=(), **data):
    subscription, _secret = services.create_subscription(
        actor=admin,
        data={
            "name": data.pop("name", f"PSA {uuid.uuid4().hex[:6]}"),
            "target_url": url,
            "event_types": event_types or list(EventTypeChoices.values),
            **data,
        },
        customers=customers,
        secret=secret,
        auth_secret=data.pop("auth_secret", ""),
    )
    return subscription


def record_and_fan_out(*built):
    events.record(built)
    return fanout.fan_out_pending()


def one_webhook_pending(admin, receiver):
    """Subscribes ``receiver`` to everything and records one incident event, fanned out: one
    delivery is pending. Returns the subscription."""
    subscription = subscribe(admin, receiver.base_url)
    record_and_fan_out(incident_event(CustomerFactory()))
    return subscription


def deliver_all():
    for delivery_id in WebhookDelivery.objects.values_list("pk", flat=True):
        delivery.deliver(delivery_id)


# --- fan-out --------------------------------------------------------------------------------


def test_each_event_becomes_one_delivery_per_subscription_that_wants_it(admin, receiver):
    contoso, fabrikam = CustomerFactory(), CustomerFactory()
    everything = subscribe(admin, receiver.base_url)
    only_resolved = subscribe(admin, receiver.base_url, [EventTypeChoices.INCIDENT_RESOLVED])
    only_contoso = subscribe(admin, receiver.base_url, customers=[contoso])
    off = subscribe(admin, receiver.base_url, is_active=False)

    record_and_fan_out(incident_event(contoso), incident_event(fabrikam, microsoft_id="EX2"))
    feed_failing = events.build(
        type=EventTypeChoices.FEED_FAILING,
        summary="partner feed failing",
        object_type="feed_source",
        object_id=1,
        consolidation_key="feed:partner",
    )
    record_and_fan_out(feed_failing)

    by_subscription = {
        subscription: sorted(
            str(payload["data"]["object_id"])
            for payload in WebhookDelivery.objects.filter(subscription=subscription).values_list(
                "payload", flat=True
            )
        )
        for subscription in (everything, only_resolved, only_contoso, off)
    }
    assert by_subscription[everything] == ["1", "EX100001", "EX2"]
    assert by_subscription[only_resolved] == []
    # A customer filter leaves out other customers and partner-wide events.
    assert by_subscription[only_contoso] == ["EX100001"]
    assert by_subscription[off] == []
    assert not Event.objects.filter(fanned_out_at__isnull=True).exists()
    # Running again writes nothing: each event is fanned out once.
    assert fanout.fan_out_pending() == []
    assert WebhookDelivery.objects.count() == 4


def test_the_envelope_carries_ids_urls_the_object_and_the_psa_company(admin, receiver, settings):
    settings.PORTAL_BASE_URL = "https://portal.example.com"
    contoso, unmapped = CustomerFactory(), CustomerFactory()
    connectwise = PsaConnection.objects.create(
        name="ConnectWise", kind="connectwise", default_company_id="CatchAll"
    )
    autotask = PsaConnection.objects.create(
        name="Autotask", kind="autotask", default_company_id="0"
    )
    services.set_company_ids(contoso, actor=admin, company_ids={connectwise: "19283"})
    Event.objects.update(fanned_out_at=timezone.now())  # the customer.updated event above
    subscription = subscribe(admin, receiver.base_url, psa=connectwise)

    record_and_fan_out(incident_event(contoso), incident_event(unmapped, microsoft_id="EX2"))

    mapped = WebhookDelivery.objects.get(payload__data__object_id="EX100001").payload
    event = Event.objects.get(object_id="EX100001")
    assert mapped["type"] == "incident.created"
    data = mapped["data"]
    assert data["event_id"] == str(event.event_id)
    assert data["tenant_id"] == str(contoso.tenant_id)
    assert data["customer"]["name"] == contoso.company_name
    assert (
        data["customer"]["url"]
        == f"https://portal.example.com/api/v1/customers/{contoso.tenant_id}/"
    )
    assert data["object_url"] == "https://portal.example.com/api/v1/incidents/EX100001/"
    assert data["consolidation_key"] == f"incident:EX100001:{contoso.tenant_id}"
    assert data["object"] == {"microsoft_id": "EX100001", "status": "serviceDegradation"}
    assert data["psa_company"] == {
        "psa": "ConnectWise",
        "psa_id": connectwise.pk,
        "company_id": "19283",
        "is_default": False,
    }
    assert {c["psa"]: c["company_id"] for c in data["psa_companies"]} == {
        "Autotask": "0",
        "ConnectWise": "19283",
    }
    # A customer without a mapping goes to the PSA's default company, never dropped.
    other = WebhookDelivery.objects.get(payload__data__object_id="EX2").payload["data"]
    assert other["psa_company"]["company_id"] == "CatchAll"
    assert other["psa_company"]["is_default"] is True
    assert subscription.deliveries.count() == 2
    assert autotask.pk


def test_setting_a_company_id_is_audited_and_tells_psas_the_customer_changed(admin):
    customer = CustomerFactory()
    psa = PsaConnection.objects.create(name="Halo", kind="halopsa", default_company_id="1")
    assert services.set_company_ids(customer, actor=admin, company_ids={psa: "42"})
    assert not services.set_company_ids(customer, actor=admin, company_ids={psa: "42"})
    assert services.set_company_ids(customer, actor=admin, company_ids={psa: ""})
    assert customer.psa_companies.count() == 0
    updates = Event.objects.filter(
        type=EventTypeChoices.CUSTOMER_UPDATED, tenant_id=customer.tenant_id
    )
    assert updates.count() == 2
    assert updates.first().consolidation_key == f"customer:{customer.tenant_id}"


# --- signing and sending --------------------------------------------------------------------


def test_a_delivery_is_signed_per_standard_webhooks_and_verifies(admin, receiver):
    one_webhook_pending(admin, receiver)
    deliver_all()

    outbox = WebhookDelivery.objects.get()
    assert outbox.state == "delivered"
    [received] = receiver.deliveries
    assert received.signature_valid is True
    headers = {
        name: received.headers.get(name)
        for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
    }
    assert headers["webhook-id"] == outbox.message_id
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
    # The receiver's own check, repeated here with the library: good verifies, tampered fails.
    assert Webhook(SECRET).verify(received.body, headers)["data"]["object_id"] == "EX100001"
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(received.body.replace(b"EX100001", b"EX100002"), headers)
    stale = {**headers, "webhook-timestamp": str(int(time.time()) - 3600)}
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(received.body, stale)
    other_secret = "whsec_" + base64.b64encode(b"another-secret-of-24-byte").decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(other_secret).verify(received.body, headers)
    # The attempt is logged with status, duration and the start of the response.
    attempt = WebhookAttempt.objects.get()
    assert (attempt.status_code, attempt.outcome) == (201, "success")
    assert "ticket_id" in attempt.response_excerpt


def test_after_rotation_both_secrets_sign_until_the_grace_ends(admin, receiver, settings):
    settings.WEBHOOK_SECRET_ROTATION_GRACE_HOURS = 24
    customer = CustomerFactory()
    subscription = subscribe(admin, receiver.base_url)
    new_secret = services.rotate_secret(subscription, actor=admin)
    assert new_secret != SECRET and new_secret.startswith("whsec_")
    record_and_fan_out(incident_event(customer))
    deliver_all()

    [received] = receiver.deliveries
    signature = received.headers.get("webhook-signature")
    assert len(signature.split(" ")) == 2
    headers = {
        name: received.headers.get(name)
        for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
    }
    Webhook(SECRET).verify(received.body, headers)  # a receiver not yet updated
    Webhook(new_secret).verify(received.body, headers)  # a receiver already updated

    # After the grace, only the new secret signs.
    WebhookSubscription.objects.filter(pk=subscription.pk).update(
        previous_secret_expires_at=timezone.now() - timedelta(seconds=1)
    )
    subscription.refresh_from_db()
    assert subscription.signing_secrets() == [new_secret]


@pytest.mark.parametrize(
    ("auth_type", "username", "secret", "expected"),
    [
        ("bearer", "", "psa-token-123", "Bearer psa-token-123"),
        ("basic", "portal", "s3cret", "Basic " + base64.b64encode(b"portal:s3cret").decode()),
    ],
)
def test_receivers_that_want_basic_or_bearer_authentication_get_it(
    admin, receiver, auth_type, username, secret, expected
):
    customer = CustomerFactory()
    subscribe(
        admin, receiver.base_url, auth_type=auth_type, auth_username=username, auth_secret=secret
    )
    record_and_fan_out(incident_event(customer))
    deliver_all()
    assert receiver.deliveries[0].headers.get("Authorization") == expected
    stored = WebhookSubscription.objects.get()
    assert secret not in stored.auth_secret_encrypted  # encrypted at rest
    assert stored.auth_type == WebhookAuthChoices(auth_type)


def test_a_worker_whose_lease_ran_out_mid_send_leaves_the_outcome_to_the_next(admin, receiver):
    subscribe(admin, receiver.base_url)
    record_and_fan_out(incident_event(CustomerFactory()))
    outbox = WebhookDelivery.objects.get()
    slow = delivery.claim(outbox.pk)
    later = timezone.now() + delivery.LEASE + timedelta(seconds=1)
    fresh = delivery.claim(outbox.pk, now=later)
    assert (slow.attempts, fresh.attempts) == (1, 2)

    outcomes = []
    for worker in (slow, fresh):
        status, excerpt = sending.send(
            worker.subscription, worker.message_id, sending.body_bytes(worker)
        )
        outcomes.append(
            delivery.OUTBOX.record_success(
                worker, (status, excerpt), timezone.now(), time.monotonic()
            )
        )
        if worker is slow:
            outbox.refresh_from_db()
            assert outbox.state == "sending"  # still the newer claim's
    assert outcomes == [None, "delivered"]
    assert outbox.attempt_log.count() == 2
    assert {d.headers.get("webhook-id") for d in receiver.deliveries} == {outbox.message_id}


def test_a_failing_receiver_gets_the_same_webhook_id_on_every_retry(admin, receiver):
    one_webhook_pending(admin, receiver)
    outbox = WebhookDelivery.objects.get()
    receiver.respond_next(500)
    receiver.respond_next(429, headers={"Retry-After": "7"})

    assert delivery.deliver(outbox.pk) == "pending"
    outbox.refresh_from_db()
    assert outbox.next_attempt_at > timezone.now()  # backoff
    assert delivery.deliver(outbox.pk) is None  # not due yet: not sent again
    WebhookDelivery.objects.filter(pk=outbox.pk).update(next_attempt_at=timezone.now())
    before = timezone.now()
    assert delivery.deliver(outbox.pk) == "pending"
    outbox.refresh_from_db()
    # Retry-After is honoured.
    assert 6 <= (outbox.next_attempt_at - before).total_seconds() <= 9
    WebhookDelivery.objects.filter(pk=outbox.pk).update(next_attempt_at=timezone.now())
    assert delivery.deliver(outbox.pk) == "delivered"

    ids = {d.headers.get("webhook-id") for d in receiver.deliveries}
    assert ids == {outbox.message_id}
    assert [d.status for d in receiver.deliveries] == [500, 429, 201]
    assert list(outbox.attempt_log.values_list("outcome", flat=True)) == [
        "retry",
        "retry",
        "success",
    ]
    subscription = outbox.subscription
    subscription.refresh_from_db()
    assert subscription.consecutive_failures == 0 and subscription.failing_since is None


def test_a_redirect_is_not_followed(admin, receiver):
    customer = CustomerFactory()
    elsewhere = PsaWebhookReceiver(secret=SECRET)
    with SimulatorServer(elsewhere) as other:
        subscribe(admin, receiver.base_url)
        record_and_fan_out(incident_event(customer))
        receiver.respond_next(302, headers={"Location": other.url})
        deliver_all()
        assert elsewhere.deliveries == []
    outbox = WebhookDelivery.objects.get()
    # A redirect is as final as a 4xx: sending again would be redirected again.
    assert outbox.state == "failed"
    assert "redirect" in outbox.last_error


@pytest.mark.parametrize("status", [400, 401, 404, 422])
def test_a_4xx_answer_is_final_after_one_attempt(admin, receiver, status):
    subscription = one_webhook_pending(admin, receiver)
    receiver.respond_next(status, times=2)
    outbox = WebhookDelivery.objects.get()
    assert delivery.deliver(outbox.pk) == "failed"
    outbox.refresh_from_db()
    assert f"refused the request ({status})" in outbox.last_error
    assert list(outbox.attempt_log.values_list("outcome", flat=True)) == ["failed"]
    assert [d.status for d in receiver.deliveries] == [status]
    # Not a 410: the subscription stays on.
    subscription.refresh_from_db()
    assert subscription.is_active is True


@pytest.mark.parametrize("status", [408, 429])
def test_a_408_or_429_answer_is_retried(admin, receiver, status):
    one_webhook_pending(admin, receiver)
    receiver.respond_next(status)
    outbox = WebhookDelivery.objects.get()
    assert delivery.deliver(outbox.pk) == "pending"
    WebhookDelivery.objects.filter(pk=outbox.pk).update(next_attempt_at=timezone.now())
    assert delivery.deliver(outbox.pk) == "delivered"
    assert [d.status for d in receiver.deliveries] == [status, 201]


def test_410_gone_disables_the_subscription_and_tells_the_admins(admin, receiver):
    subscription = one_webhook_pending(admin, receiver)
    receiver.respond_next(410)
    deliver_all()
    subscription.refresh_from_db()
    assert subscription.is_active is False
    assert "410" in subscription.disabled_reason
    assert WebhookDelivery.objects.get().state == "failed"


@pytest.mark.django_db(transaction=True)
def test_410_gone_emails_the_global_admins(cast, receiver):
    admin = cast["global_admin"]
    customer = CustomerFactory()
    subscribe(admin, receiver.base_url, name="ConnectWise")
    record_and_fan_out(incident_event(customer))
    receiver.respond_next(410)
    deliver_all()
    assert len(mail.outbox) == 1
    assert "ConnectWise" in mail.outbox[0].subject
    assert admin.email in mail.outbox[0].to
    assert cast["helpdesk_agent"].email not in mail.outbox[0].to


def test_a_long_run_of_failures_disables_the_subscription(admin, receiver, settings):
    settings.WEBHOOK_DISABLE_AFTER_HOURS = 24
    settings.WEBHOOK_DISABLE_AFTER_FAILURES = 3
    customer = CustomerFactory()
    subscription = subscribe(admin, receiver.base_url)
    record_and_fan_out(*[incident_event(customer, microsoft_id=f"EX{n}") for n in range(4)])
    receiver.respond_next(503, times=10)
    ids = list(WebhookDelivery.objects.values_list("pk", flat=True))
    for delivery_id in ids[:3]:
        delivery.deliver(delivery_id)
    subscription.refresh_from_db()
    # Three failures, but only just started failing: still on.
    assert subscription.is_active and subscription.consecutive_failures == 3
    WebhookSubscription.objects.filter(pk=subscription.pk).update(
        failing_since=timezone.now() - timedelta(hours=25)
    )
    delivery.deliver(ids[3])
    subscription.refresh_from_db()
    assert subscription.is_active is False
    assert "4 attempts in a row" in subscription.disabled_reason
    # Deliveries of a disabled subscription wait; they are neither sent nor lost.
    WebhookDelivery.objects.update(next_attempt_at=timezone.now())
    sent = len(receiver.deliveries)
    assert delivery.deliver(ids[0]) is None
    assert len(receiver.deliveries) == sent
    assert WebhookDelivery.objects.filter(state="pending").count() == 4
    # Switching it back on resets its health; the waiting deliveries go out.
    services.update_subscription(subscription, actor=admin, data={"is_active": True})
    subscription.refresh_from_db()
    assert subscription.failing_since is None and subscription.disabled_reason == ""
    receiver.clear_script()
    deliver_all()
    assert WebhookDelivery.objects.filter(state="delivered").count() == 4


def test_redeliver_sends_the_same_message_again(admin, receiver):
    customer = CustomerFactory()
    subscribe(admin, receiver.base_url)
    record_and_fan_out(incident_event(customer))
    deliver_all()
    outbox = WebhookDelivery.objects.get()
    services.redeliver(outbox, actor=admin)
    outbox.refresh_from_db()
    assert outbox.state == "pending"
    delivery.deliver(outbox.pk)
    assert [d.headers.get("webhook-id") for d in receiver.deliveries] == [outbox.message_id] * 2
    # The PSA receiver drops the repeat: one ticket, one update.
    key = f"incident:EX100001:{customer.tenant_id}"
    assert receiver.tickets_by_key[key]["events"] == ["incident.created"]
    assert outbox.attempt_log.count() == 2


def test_a_test_event_reaches_the_receiver(admin, receiver):
    subscription = subscribe(admin, receiver.base_url, [EventTypeChoices.FEED_FAILING])
    test = services.send_test_event(subscription, actor=admin)
    delivery.deliver(test.pk)
    test.refresh_from_db()
    assert test.state == "delivered"
    body = json.loads(receiver.deliveries[0].body)
    assert body["type"] == "webhook.test"
    assert body["data"]["test"] is True


def test_secrets_never_reach_the_audit_log(admin):
    from core.models import AuditEntry

    subscription = subscribe(
        admin, "http://127.0.0.1:9/", auth_type="bearer", auth_secret="tok-XYZ"
    )
    services.rotate_secret(subscription, actor=admin)
    dump = json.dumps(list(AuditEntry.objects.values("before", "after")), default=str)
    assert "tok-XYZ" not in dump
    assert SECRET not in dump and "whsec_" not in dump


# --- end to end, with a real worker ------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_fans_out_and_delivers_recorded_events(cast, receiver, redis_url):
    admin = cast["global_admin"]
    customer = CustomerFactory()
    subscribe(admin, receiver.base_url)
    with worker_in_thread("webhooks"):
        events.record(
            [incident_event(customer), incident_event(customer, EventTypeChoices.INCIDENT_UPDATED)]
        )
        wait_until(
            lambda: len(receiver.verified) >= 2,
            timeout=20,
            message="the receiver did not get both events",
        )
    assert sorted(json.loads(d.body)["type"] for d in receiver.verified) == [
        "incident.created",
        "incident.updated",
    ]
    # One ticket for the incident and customer, updated by the second event.
    key = f"incident:EX100001:{customer.tenant_id}"
    assert receiver.tickets_by_key[key]["events"] == ["incident.created", "incident.updated"]
    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {"delivered"}


def test_a_receiver_that_hangs_times_out_and_is_retried(admin, receiver, monkeypatch):
    # A short read timeout keeps the test quick; the receiver holds its answer longer.
    monkeypatch.setattr(sending, "TIMEOUT", (2, 0.5))
    one_webhook_pending(admin, receiver)
    receiver.respond_next(204, delay=5)
    outbox = WebhookDelivery.objects.get()
    assert delivery.deliver(outbox.pk) == "pending"
    outbox.refresh_from_db()
    assert "did not answer in time" in outbox.last_error
    assert outbox.attempt_log.get().outcome == "retry"
    receiver.release()


def test_a_worker_killed_mid_send_leaves_the_delivery_to_the_sweep(admin, receiver):
    one_webhook_pending(admin, receiver)
    outbox = WebhookDelivery.objects.get()
    # A worker claims it and dies before recording anything: the row stays "sending".
    assert delivery.claim(outbox.pk) is not None
    assert delivery.claim(outbox.pk) is None  # nobody else may take it while the lease holds
    assert delivery.sweep() == []
    WebhookDelivery.objects.filter(pk=outbox.pk).update(
        lease_until=timezone.now() - timedelta(seconds=1)
    )
    assert delivery.sweep() == [outbox.pk]
    assert delivery.deliver(outbox.pk) == "delivered"
    outbox.refresh_from_db()
    assert outbox.attempts == 2
    assert [d.headers.get("webhook-id") for d in receiver.deliveries] == [outbox.message_id]


def test_events_missed_by_the_wake_up_are_fanned_out_by_the_sweep(admin, receiver):
    customer = CustomerFactory()
    subscribe(admin, receiver.base_url)
    # Recorded without the on-commit wake-up reaching a worker (the broker was down).
    events.record([incident_event(customer)])
    assert WebhookDelivery.objects.count() == 0
    from integrations import tasks

    tasks.sweep_webhook_deliveries()
    assert WebhookDelivery.objects.count() == 1
    assert not Event.objects.filter(fanned_out_at__isnull=True).exists()
