"""The Partner Center channel on the partner's Microsoft connection, against the Entra ID and
Partner Center simulators over real HTTP: the App+User token, Partner Center's headers, the
customer on the request, retries, a missing or refused connection, notes and support topics."""

import importlib
import json
import uuid
from datetime import timedelta

import pytest
import requests
from django.apps import apps
from django.urls import reverse
from django.utils import timezone

from core.models import AuditEntry
from demo import customers as demo_customers
from demo import microsoft as demo_microsoft
from demo import servicerequests as demo_servicerequests
from demo.servicehealth import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_PARTNER_TENANT
from microsoft import services as microsoft
from microsoft.models import MicrosoftConnection
from servicerequests import channel_updates, delivery, services
from servicerequests.forms import ServiceRequestForm
from servicerequests.models import (
    Channel,
    Delivery,
    NoteDelivery,
    ServiceRequest,
    SupportTopic,
    TimelineEntry,
)
from servicerequests.service_incidents import ServiceIncidents, read_service_incidents
from servicerequests.support_topics import sync_support_topics
from simulators.http import SimulatorServer
from simulators.partner_center.model import SUPPORT_TOPICS
from simulators.partner_center.server import PartnerCenterSimulator
from tests.customers.factories import CustomerFactory
from tests.servicerequests.helpers import channel, deliver_now, deliver_only_to, topic

PC_SCOPE_HOST = "api.partnercenter.microsoft.com"
move_to_the_connection = importlib.import_module(
    "servicerequests.migrations.0009_partner_center_channels_use_the_connection"
)


@pytest.fixture
def partner_center(entra_simulator):
    """Partner Center accepting only the tokens the Entra ID simulator minted."""
    simulator = PartnerCenterSimulator(token=None, entra=entra_simulator)
    with SimulatorServer(simulator) as server:
        yield server.app


def connect(entra, partner_center, refresh_token=None):
    return microsoft.connect(
        actor=None,
        tenant_id=entra.tenant_id,
        client_id=entra.client_id,
        client_secret=entra.client_secret,
        refresh_token=refresh_token or entra.issue_refresh_token(),
        login_url=entra.base_url,
        partner_center_url=partner_center.base_url,
    )


@pytest.fixture
def open_pc_request(db, cast, partner_center):
    """Open a request routed to a Partner Center channel with no pasted token."""
    target = channel("partner_center", endpoint=partner_center.base_url)
    Channel.objects.exclude(pk=target.pk).update(enabled=False)
    customer = CustomerFactory(company_name="Contoso Lojistik A.Ş.")

    def make(actor=None, **fields):
        values = {
            "title": "Mail flow stopped",
            "description": "Since 09:00 no mail arrives for any mailbox.",
            "severity": "moderate",
            "support_topic": topic(),
            "customer": customer,
            "contact_name": "Elif Nur Kaya",
            "contact_email": "elif@contoso.example",
            "contact_phone": "+90 212 555 0101",
            **fields,
        }
        return services.open_service_request(actor=actor or cast["helpdesk_agent"], **values)

    return make


def posts(simulator):
    return [(headers, body) for method, _p, headers, body in simulator.requests if method == "POST"]


def test_the_request_goes_with_the_connections_token_and_names_the_customer(
    entra_simulator, partner_center, open_pc_request
):
    connect(entra_simulator, partner_center)
    service_request = open_pc_request()
    assert deliver_now(service_request) == "delivered"
    [(headers, body)] = posts(partner_center)
    token = headers["Authorization"].removeprefix("Bearer ")
    tenant, scope = entra_simulator.token_info(token)
    assert tenant == entra_simulator.tenant_id and PC_SCOPE_HOST in scope
    sent = json.loads(body)
    customer = service_request.customer
    organization = {
        "Id": str(customer.tenant_id),
        "Name": "Contoso Lojistik A.Ş.",
        "PhoneNumber": None,
    }
    assert sent["Organization"] == organization
    assert sent["PrimaryContact"] == {
        "ContactId": None,
        "FirstName": "Elif Nur",
        "LastName": "Kaya",
        "Email": "elif@contoso.example",
        "PhoneNumber": "+90 212 555 0101",
        "Organization": organization,
    }
    service_request.refresh_from_db()
    held = partner_center.request_json(service_request.channel_reference)
    assert held["organization"]["name"] == "Contoso Lojistik A.Ş."
    assert held["primaryContact"]["email"] == "elif@contoso.example"


def test_a_throttled_request_keeps_its_request_id_and_honours_retry_after(
    entra_simulator, partner_center, open_pc_request
):
    connect(entra_simulator, partner_center)
    service_request = open_pc_request()
    partner_center.fail_next(
        "/v1/servicerequests/", method="POST", status=429, headers={"Retry-After": "7"}
    )
    assert deliver_now(service_request) == "pending"
    retry = TimelineEntry.objects.filter(service_request=service_request, kind="attempt").get()
    assert retry.data["message"]["params"]["seconds"] == 7
    outbox = Delivery.objects.get(service_request=service_request)
    # The wait is Partner Center's, not the backoff's (5 s, plus jitter, after one failure).
    assert outbox.next_attempt_at >= outbox.attempt_log.get().started_at + timedelta(seconds=7)
    assert deliver_now(service_request) == "delivered"
    first, second = (headers for headers, _body in posts(partner_center))
    assert first["MS-RequestId"] == second["MS-RequestId"] == str(outbox.idempotency_key)
    assert first["MS-CorrelationId"] != second["MS-CorrelationId"]
    uuid.UUID(first["MS-CorrelationId"])
    assert len(partner_center.created) == 1


@pytest.mark.parametrize(
    ("language", "portal_language", "expected"),
    [("tr", "en", "tr-TR"), ("", "tr", "tr-TR"), ("", "en", "en-US"), ("en", "tr", "en-US")],
)
def test_x_locale_follows_the_requesters_language(
    entra_simulator,
    partner_center,
    open_pc_request,
    cast,
    settings,
    language,
    portal_language,
    expected,
):
    settings.LANGUAGE_CODE = portal_language
    agent = cast["helpdesk_agent"]
    agent.language = language
    agent.save(update_fields=["language"])
    connect(entra_simulator, partner_center)
    assert deliver_now(open_pc_request(actor=agent)) == "delivered"
    [(headers, _body)] = posts(partner_center)
    assert headers["X-Locale"] == expected


def test_without_the_connection_the_delivery_waits_visibly_and_goes_once_connected(
    entra_simulator, partner_center, open_pc_request
):
    service_request = open_pc_request()
    assert deliver_now(service_request) == "failed"
    service_request.refresh_from_db()
    assert service_request.status == "delivery_failed"
    failed = TimelineEntry.objects.get(service_request=service_request, kind="delivery_failed")
    assert "Connect Microsoft first" in failed.text
    # The channel is fine: the connection is what is missing (its page says so).
    assert not Channel.objects.get(pk=service_request.channel_id).needs_attention
    assert partner_center.requests == []
    assert delivery.resume_after_connection() == 0  # still not connected
    connect(entra_simulator, partner_center)
    assert delivery.resume_after_connection() == 1
    service_request.refresh_from_db()
    assert service_request.status == "pending_delivery"
    assert deliver_now(service_request) == "delivered"
    assert len(partner_center.created) == 1
    assert delivery.resume_after_connection() == 0


def test_a_refused_token_waits_for_the_connection_to_be_renewed(
    entra_simulator, partner_center, open_pc_request
):
    connect(entra_simulator, partner_center)
    assert deliver_now(open_pc_request()) == "delivered"
    partner_center.expire_access_tokens()
    service_request = open_pc_request(title="Teams calls drop")
    assert deliver_now(service_request) == "failed"
    outbox = Delivery.objects.get(service_request=service_request)
    assert outbox.waiting_for_connection_since is not None
    assert "401" in outbox.last_error and "reconnect Microsoft" in outbox.last_error
    # Not sent again until the connection is renewed: no loop against a refusing Partner Center.
    assert delivery.resume_after_connection() == 0
    connect(entra_simulator, partner_center)
    assert delivery.resume_after_connection() == 1
    assert deliver_now(service_request) == "delivered"
    assert [sr.title for sr in partner_center.created] == ["Mail flow stopped", "Teams calls drop"]


def test_partner_center_refuses_unknown_tokens(partner_center):
    answer = requests.get(
        partner_center.base_url + "/v1/servicerequests",
        headers={"Authorization": "Bearer made-up"},
        timeout=5,
    )
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


# --- notes -------------------------------------------------------------------------------------


def test_a_note_goes_to_partner_center_and_does_not_come_back_twice(
    entra_simulator, partner_center, open_pc_request, cast
):
    connect(entra_simulator, partner_center)
    service_request = open_pc_request()
    deliver_now(service_request)
    service_request.refresh_from_db()
    note = services.add_note(
        service_request, text="The customer restarted the connector.", actor=cast["helpdesk_agent"]
    )
    outbox = NoteDelivery.objects.get(note=note)
    assert delivery.deliver_note(outbox.pk) == "delivered"
    method, path, headers, body = partner_center.requests[-1]
    assert (method, path) == ("PATCH", f"/v1/servicerequests/{service_request.channel_reference}")
    assert headers["MS-RequestId"] == str(outbox.idempotency_key)
    sent = json.loads(body)
    assert sent["NewNote"]["Text"] == "The customer restarted the connector."
    assert sent["Severity"] == "unknown" and sent["Status"] == "none"
    held = partner_center.request_json(service_request.channel_reference)
    assert [n["text"] for n in held["notes"]] == ["The customer restarted the connector."]
    # Microsoft answers with a note and a status: both come back once, ours not again.
    partner_center.set_status(
        service_request.channel_reference, "attention_needed", note="Please send the logs."
    )
    assert channel_updates.poll_partner_center_statuses() == 1
    assert channel_updates.poll_partner_center_statuses() == 0
    service_request.refresh_from_db()
    assert service_request.status == "attention_needed"
    assert list(service_request.notes.values_list("text", "from_channel")) == [
        ("The customer restarted the connector.", False),
        ("Please send the logs.", True),
    ]


def test_a_note_waits_for_its_request_to_be_delivered(
    entra_simulator, partner_center, open_pc_request, cast
):
    connect(entra_simulator, partner_center)
    service_request = open_pc_request()
    note = services.add_note(service_request, text="Logs attached.", actor=cast["helpdesk_agent"])
    outbox = NoteDelivery.objects.get(note=note)
    assert delivery.deliver_note(outbox.pk) is None  # no reference to PATCH yet
    assert deliver_now(service_request) == "delivered"
    assert delivery.deliver_note(outbox.pk) == "delivered"
    service_request.refresh_from_db()
    held = partner_center.request_json(service_request.channel_reference)
    assert [n["text"] for n in held["notes"]] == ["Logs attached."]


def test_a_note_survives_a_worker_that_died_while_sending_it(
    entra_simulator, partner_center, open_pc_request, cast
):
    connect(entra_simulator, partner_center)
    service_request = open_pc_request()
    deliver_now(service_request)
    service_request.refresh_from_db()
    note = services.add_note(service_request, text="Still down.", actor=cast["helpdesk_agent"])
    outbox = NoteDelivery.objects.get(note=note)
    # A worker claims the row and sends the PATCH, then dies before recording it.
    claimed = delivery.NOTE_OUTBOX.claim(outbox.pk)
    delivery.NOTE_OUTBOX.send(claimed)
    assert delivery.deliver_note(outbox.pk) is None  # still leased to the dead worker
    lease_ran_out = timezone.now() - timedelta(seconds=1)
    NoteDelivery.objects.filter(pk=outbox.pk).update(lease_until=lease_ran_out)
    assert delivery.sweep() == [outbox.pk]
    assert delivery.deliver_note(outbox.pk) == "delivered"
    held = partner_center.request_json(service_request.channel_reference)
    assert [n["text"] for n in held["notes"]] == ["Still down."]  # the same key: once


def test_a_note_refused_for_the_token_goes_once_the_connection_is_renewed(
    entra_simulator, partner_center, open_pc_request, cast
):
    connect(entra_simulator, partner_center)
    service_request = open_pc_request()
    deliver_now(service_request)
    service_request.refresh_from_db()
    partner_center.expire_access_tokens()
    note = services.add_note(service_request, text="Any news?", actor=cast["helpdesk_agent"])
    outbox = NoteDelivery.objects.get(note=note)
    assert delivery.deliver_note(outbox.pk) == "failed"
    failed = TimelineEntry.objects.get(service_request=service_request, kind="delivery_failed")
    assert "A note could not be sent" in failed.text
    assert delivery.resume_after_connection() == 0
    connect(entra_simulator, partner_center)
    assert delivery.resume_after_connection() == 1
    assert delivery.deliver_note(outbox.pk) == "delivered"
    held = partner_center.request_json(service_request.channel_reference)
    assert [n["text"] for n in held["notes"]] == ["Any news?"]


def test_notes_on_other_channels_stay_in_the_portal(db, cast, webhook_receiver):
    deliver_only_to(webhook_receiver)
    service_request = services.open_service_request(
        actor=cast["helpdesk_agent"],
        title="Mail flow stopped",
        description="Since 09:00 no mail arrives for any mailbox.",
        severity="moderate",
        support_topic=topic(),
        customer=CustomerFactory(),
        contact_name="Elif Kaya",
        contact_email="elif@customer.example",
    )
    services.add_note(service_request, text="Internal only.", actor=cast["helpdesk_agent"])
    assert not NoteDelivery.objects.exists()


# --- support topics ----------------------------------------------------------------------------


def test_support_topics_are_read_page_by_page_and_replace_the_seeded_ones(
    entra_simulator, partner_center, db
):
    connect(entra_simulator, partner_center)
    for pc_id, name, description, _product in SUPPORT_TOPICS:
        topic(pc_id=str(pc_id), name=name)
        # As if read before: only what Partner Center changes below is new.
        SupportTopic.objects.filter(partner_center_id=str(pc_id)).update(
            name=name, description=description
        )
    before = dict(SupportTopic.objects.values_list("partner_center_id", "pk"))
    renamed_id, gone_id = str(SUPPORT_TOPICS[1][0]), str(SUPPORT_TOPICS[2][0])
    partner_center.page_size = 5
    partner_center.support_topics = [
        (32444668, "Billing and invoices", "Invoices and payments", "15961")
        if str(t[0]) == renamed_id
        else t
        for t in SUPPORT_TOPICS
        if str(t[0]) != gone_id
    ] + [(32444690, "Copilot", "Microsoft 365 Copilot questions", "15990")]
    result = sync_support_topics()
    assert (result.added, result.changed, result.deactivated, result.error) == (1, 1, 1, "")
    reads = [h for m, p, h, _b in partner_center.requests if p.endswith("/supporttopics")]
    assert len(reads) == 3  # 14 topics, 5 a page
    assert "MS-ContinuationToken" not in reads[0]
    assert reads[1]["MS-ContinuationToken"] and reads[2]["MS-ContinuationToken"]
    after = dict(SupportTopic.objects.values_list("partner_center_id", "pk"))
    assert {k: v for k, v in after.items() if k in before} == before  # ids kept
    assert SupportTopic.objects.get(partner_center_id=renamed_id).name == "Billing and invoices"
    assert not SupportTopic.objects.get(partner_center_id=gone_id).active  # kept, inactive
    offered = set(
        ServiceRequestForm()
        .fields["support_topic"]
        .queryset.values_list("partner_center_id", flat=True)
    )
    assert "32444690" in offered and gone_id not in offered
    assert sync_support_topics().changed == 0  # nothing new: nothing written


def test_a_bad_topics_answer_changes_nothing(entra_simulator, partner_center, db):
    topic()
    assert sync_support_topics().error  # not connected
    connect(entra_simulator, partner_center)
    partner_center.support_topics = []
    assert sync_support_topics().error
    partner_center.fail_next("/v1/servicerequests/supporttopics", status=503)
    assert sync_support_topics().error
    assert SupportTopic.objects.filter(active=False).count() == 0
    assert ServiceRequest.objects.count() == 0


# --- legacy service incidents ------------------------------------------------------------------


def test_legacy_service_incidents_are_read_where_partner_center_still_answers(
    entra_simulator, partner_center, db, caplog
):
    connect(entra_simulator, partner_center)
    with caplog.at_level("INFO", logger="servicerequests.service_incidents"):
        assert read_service_incidents() == ServiceIncidents(False)  # 404: not available
    mine = [r for r in caplog.records if r.name == "servicerequests.service_incidents"]
    assert [r.levelname for r in mine] == ["INFO"]  # quietly: not a warning
    partner_center.service_incidents = [
        {
            "workload": "Exchange Online",
            "status": "serviceDegradation",
            "incidents": [
                {
                    "id": "EX123456",
                    "messageType": "incident",
                    "status": "serviceDegradation",
                    "startTime": "2026-12-01T08:00:00Z",
                    "messages": [{"publishedTime": "2026-12-01T08:05:00Z", "messageText": "…"}],
                }
            ],
            "messageCenterMessages": [],
        }
    ]
    found = read_service_incidents()
    assert found.available and [i["id"] for i in found.incidents] == ["EX123456"]


# --- make run ----------------------------------------------------------------------------------


def test_the_demo_channel_escalates_with_the_demo_connection(db, entra_simulator, partner_center):
    """`make run`: the demo's Partner Center channel holds no pasted token, and its requests go
    with the token the demo connection's refresh token redeems (run_simulators passes ``entra``
    to the Partner Center simulator)."""
    demo_customers.load()
    demo_microsoft.load()
    demo_servicerequests.load()
    demo_channel = Channel.objects.get(kind="partner_center")
    assert demo_channel.credentials == {}
    # The demo's URLs point at run_simulators' ports; here, at this test's simulators.
    entra_simulator.issue_refresh_token(demo_microsoft.DEMO_REFRESH_TOKEN)
    Channel.objects.filter(pk=demo_channel.pk).update(endpoint=partner_center.base_url)
    entra_simulator.tenant_id = DEMO_PARTNER_TENANT
    entra_simulator.client_id = DEMO_CLIENT_ID
    entra_simulator.client_secret = DEMO_CLIENT_SECRET
    MicrosoftConnection.objects.update(
        login_url=entra_simulator.base_url, partner_center_url=partner_center.base_url
    )
    critical = ServiceRequest.objects.get(channel=demo_channel, severity="critical")
    assert deliver_now(critical) == "delivered"
    [(headers, _body)] = posts(partner_center)
    token = headers["Authorization"].removeprefix("Bearer ")
    assert entra_simulator.token_info(token) is not None


# --- the pasted token ----------------------------------------------------------------------------


def test_an_admin_moves_a_channel_from_its_pasted_token_to_the_connection(client_for, db):
    target = channel(
        "partner_center", endpoint="http://127.0.0.1:8767", credentials={"access_token": "pasted"}
    )
    target.needs_attention = True
    target.save(update_fields=["needs_attention"])
    admin = client_for("global_admin")
    url = reverse("servicerequests:channel_edit", args=[target.pk])
    assert "forget_access_token" in admin.get(url).context["form"].fields
    data = {
        "name": target.name,
        "kind": "partner_center",
        "category": target.category,
        "tier": target.tier,
        "endpoint": target.endpoint,
        "enabled": "on",
        "access_token": "",
        "signing_secret": "",
        "forget_access_token": "on",
    }
    assert admin.post(url, data).status_code == 302
    target.refresh_from_db()
    assert target.credentials == {} and not target.needs_attention
    entry = AuditEntry.objects.get(action="channel.updated")
    assert entry.before["credentials"] == {"access_token": "set"}
    assert entry.after["credentials"] == {}
    # Nothing pasted: nothing to forget.
    assert "forget_access_token" not in admin.get(url).context["form"].fields


def test_tokens_pasted_before_the_connection_are_dropped_by_the_migration(db):
    pasted = channel(
        "partner_center", endpoint="http://127.0.0.1:8767", credentials={"access_token": "old"}
    )
    hook = channel(
        "webhook",
        endpoint="http://127.0.0.1:8768/hook",
        credentials={"signing_secret": "receiver-signing-secret"},
    )
    move_to_the_connection.drop_pasted_tokens(apps, None)
    pasted.refresh_from_db()
    hook.refresh_from_db()
    assert pasted.credentials == {} and pasted.credentials_encrypted == ""
    assert hook.credentials == {"signing_secret": "receiver-signing-secret"}


def test_the_partners_token_goes_only_to_the_connections_partner_center_host(
    entra_simulator, partner_center, open_pc_request
):
    """A Global admin cannot point a channel elsewhere to collect the partner's token: the
    delivery is refused before any call, and the simulator (the other host) hears nothing."""
    connect(entra_simulator, partner_center)
    MicrosoftConnection.objects.update(partner_center_url="https://api.partnercenter.microsoft.com")
    service_request = open_pc_request()
    assert deliver_now(service_request) == "failed"
    assert posts(partner_center) == []
    assert partner_center.requests == []
    service_request.refresh_from_db()
    assert "sent only there" in service_request.delivery.last_error
