"""The signed status callback of webhook channels.

Callbacks are signed as a ticketing system signs them, with the simulator's ``standard_headers``
(the ``standardwebhooks`` library) or, deprecated, its ``sign`` (``X-Portal-Signature``), never
with the portal's own code.
"""

import base64
import json
import time
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from servicerequests import channel_updates
from servicerequests.models import (
    CallbackNonce,
    DeliveryStateChoices,
    ServiceRequest,
    StatusChoices,
)
from simulators.webhook_receiver import sign, standard_headers
from tests.servicerequests.factories import ChannelFactory, ServiceRequestFactory

SECRET = "receiver-signing-secret"


@pytest.fixture
def opened(db):
    """A request delivered to a webhook channel, open there as ticket TCK-000001."""
    target = ChannelFactory(credentials={"signing_secret": SECRET})
    service_request = ServiceRequestFactory(
        channel=target,
        status=StatusChoices.OPEN,
        channel_reference="TCK-000001",
        delivery=DeliveryStateChoices.DELIVERED,
    )
    return target, service_request


def post(client, target, body, headers):
    url = reverse("api-v1:servicerequests-callbacks:channel", kwargs={"channel_id": target.pk})
    return client.post(url, body, content_type="application/json", headers=headers)


def closing(service_request, **extra):
    return json.dumps({"number": service_request.number, "status": "closed", **extra}).encode()


def refusals(caplog):
    return " ".join(
        r.getMessage() for r in caplog.records if r.name == "servicerequests.channel_updates"
    )


def test_a_signed_callback_changes_status_and_adds_the_note(client, opened):
    target, service_request = opened
    body = closing(service_request, note="Fixed by Microsoft.")
    response = post(client, target, body, standard_headers(SECRET, body))
    assert response.status_code == 200
    assert response.json() == {"number": service_request.number, "status": "closed"}
    service_request.refresh_from_db()
    assert service_request.status == "closed"
    assert service_request.notes.get(from_channel=True).text == "Fixed by Microsoft."


def test_a_callback_may_name_the_channels_ticket(client, opened):
    target, service_request = opened
    body = json.dumps({"ticket_id": "TCK-000001", "status": "attention_needed"}).encode()
    assert post(client, target, body, standard_headers(SECRET, body)).status_code == 200
    service_request.refresh_from_db()
    assert service_request.status == "attention_needed"


def test_a_whsec_channel_secret_is_its_decoded_bytes(client, db):
    secret = "whsec_" + base64.b64encode(b"a channel key of 24 bytes!").decode()
    target = ChannelFactory(credentials={"signing_secret": secret})
    service_request = ServiceRequestFactory(channel=target, status=StatusChoices.OPEN)
    body = closing(service_request)
    assert post(client, target, body, standard_headers(secret, body)).status_code == 200
    # The same secret read as text is another key.
    other = closing(service_request, note="again")
    assert post(client, target, other, standard_headers(secret.encode(), other)).status_code == 401


def test_replays_stale_and_badly_signed_callbacks_are_refused(client, opened, caplog):
    target, service_request = opened
    body = closing(service_request)
    headers = standard_headers(SECRET, body, message_id="msg_first")
    assert post(client, target, body, headers).status_code == 200
    assert CallbackNonce.objects.get(channel=target).message_id == "msg_first"
    ServiceRequest.objects.filter(pk=service_request.pk).update(status="open")
    answers = []
    with caplog.at_level("WARNING", logger="servicerequests.channel_updates"):
        answers.append(post(client, target, body, headers))  # replayed as is
        # Signed again, later: still the same message.
        again = standard_headers(SECRET, body, message_id="msg_first", timestamp=time.time() + 5)
        answers.append(post(client, target, body, again))
        stale = standard_headers(SECRET, body, timestamp=time.time() - 360)
        answers.append(post(client, target, body, stale))
        answers.append(post(client, target, body, standard_headers("wrong-secret", body)))
        answers.append(post(client, target, body, {}))
    assert [answer.status_code for answer in answers] == [401] * 5
    assert {answer.json()["error"] for answer in answers} == {"refused"}
    service_request.refresh_from_db()
    assert service_request.status == "open"
    reasons = refusals(caplog)
    assert reasons.count("replayed") == 2
    assert "five-minute" in reasons and "bad signature" in reasons and "missing" in reasons


def test_old_callbacks_are_forgotten_once_they_cannot_be_replayed(opened):
    target, _service_request = opened
    now = timezone.now()
    CallbackNonce.objects.create(channel=target, message_id="msg_old", received_at=now)
    CallbackNonce.objects.create(
        channel=target, message_id="msg_older", received_at=now - timedelta(minutes=11)
    )
    assert channel_updates.purge_nonces(now=now) == 1
    assert list(CallbackNonce.objects.values_list("message_id", flat=True)) == ["msg_old"]


# --- the deprecated X-Portal-Signature, behind CHANNEL_LEGACY_SIGNATURE -------------------------


def test_while_legacy_is_on_the_old_header_is_accepted_and_logged_once(
    client, opened, settings, caplog
):
    settings.CHANNEL_LEGACY_SIGNATURE = True
    target, service_request = opened
    first = closing(service_request)
    second = closing(service_request, note="Closed by the vendor.")
    first_header = {"X-Portal-Signature": sign(SECRET, first)}
    with caplog.at_level("WARNING", logger="servicerequests.channel_updates"):
        accepted = [
            post(client, target, first, first_header),
            post(client, target, second, {"X-Portal-Signature": sign(SECRET, second)}),
        ]
        replayed = post(client, target, first, first_header)
        forged = post(client, target, first, {"X-Portal-Signature": sign("wrong", first)})
    assert [a.status_code for a in accepted] == [200, 200]
    service_request.refresh_from_db()
    assert service_request.status == "closed"
    assert service_request.notes.get(from_channel=True).text == "Closed by the vendor."
    assert (replayed.status_code, forged.status_code) == (401, 401)
    assert refusals(caplog).count("deprecated X-Portal-Signature") == 1


def test_once_legacy_is_off_only_standard_webhooks_is_accepted(client, opened, settings, caplog):
    settings.CHANNEL_LEGACY_SIGNATURE = False
    target, service_request = opened
    body = closing(service_request)
    with caplog.at_level("WARNING", logger="servicerequests.channel_updates"):
        legacy = post(client, target, body, {"X-Portal-Signature": sign(SECRET, body)})
    assert legacy.status_code == 401
    assert "no longer accepted" in refusals(caplog)
    service_request.refresh_from_db()
    assert service_request.status == "open"
    assert post(client, target, body, standard_headers(SECRET, body)).status_code == 200


def test_with_both_headers_the_standard_signature_decides(client, opened, settings):
    settings.CHANNEL_LEGACY_SIGNATURE = True
    target, service_request = opened
    body = closing(service_request)
    headers = {**standard_headers("wrong-secret", body), "X-Portal-Signature": sign(SECRET, body)}
    assert post(client, target, body, headers).status_code == 401
    headers = {**standard_headers(SECRET, body), "X-Portal-Signature": sign("wrong", body)}
    assert post(client, target, body, headers).status_code == 200
