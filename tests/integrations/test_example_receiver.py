"""The example receiver in docs/examples/ does what docs/psa-integration.md says it does.

It runs as its own process, as an integrator would run it, and is sent deliveries signed with the
standardwebhooks library per the portal's envelope; its SQLite file is read to see what it kept.
"""

import base64
import json
import os
import select
import sqlite3
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from standardwebhooks import Webhook

ROOT = Path(__file__).resolve().parents[2]
RECEIVER = ROOT / "docs" / "examples" / "psa_receiver.py"
SECRET = "whsec_" + base64.b64encode(b"example receiver test secret!!!!").decode()
TENANT = "0d5e9b4c-2f3a-4c1e-9a7b-6f1c0e7a1234"


@pytest.fixture
def receiver(tmp_path):
    """The receiver on a free loopback port (it binds port 0 and prints the one it got)."""
    db_path = tmp_path / "tickets.sqlite3"
    process = subprocess.Popen(
        [sys.executable, str(RECEIVER), "--port", "0", "--db", str(db_path)],
        env={**os.environ, "PSA_WEBHOOK_SECRET": SECRET},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        ready, _, _ = select.select([process.stdout], [], [], 30)
        first_line = process.stdout.readline() if ready else ""
        assert first_line.startswith("Listening on http://127.0.0.1:"), first_line
        url = first_line.split()[2].rstrip(",")
        yield {"url": url, "db": db_path, "process": process}
    finally:
        process.kill()
        process.wait()
        process.stdout.close()


def envelope(event_type="incident.updated", status="serviceDegradation", at=None):
    at = at or datetime.now(UTC)
    return {
        "type": event_type,
        "timestamp": at.isoformat().replace("+00:00", "Z"),
        "data": {
            "event_id": str(uuid.uuid4()),
            "tenant_id": TENANT,
            "customer": {"id": 12, "name": "Contoso Ltd", "tenant_id": TENANT, "url": "x"},
            "psa_company": {
                "psa": "ConnectWise PSA",
                "psa_id": 1,
                "company_id": "19283",
                "is_default": False,
            },
            "psa_companies": [],
            "object_type": "incident",
            "object_id": "EX123456",
            "object_url": "https://portal.example.com/api/v1/incidents/EX123456/",
            "consolidation_key": f"incident:EX123456:{TENANT}",
            "summary": "EX123456: Users can't sign in to Exchange Online",
            "object": {"microsoft_id": "EX123456", "status": status},
            "test": False,
        },
    }


def send(url, event, *, webhook_id=None, sent_at=None, body=None, secret=SECRET):
    """POST ``event`` signed as the portal signs it; ``body`` replaces the signed body if given."""
    webhook_id = webhook_id or f"msg_{uuid.uuid4().hex}"
    sent_at = sent_at or datetime.now(UTC)
    signed_body = json.dumps(event)
    headers = {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, sent_at, signed_body),
        "Content-Type": "application/json",
        "User-Agent": "PartnerSupportPortal-Webhooks/1",
    }
    return requests.post(url, data=body or signed_body.encode(), headers=headers, timeout=10)


def printed_line(receiver):
    """The next line the receiver printed (it prints one per request)."""
    ready, _, _ = select.select([receiver["process"].stdout], [], [], 30)
    return receiver["process"].stdout.readline() if ready else ""


def tickets(db_path):
    db = sqlite3.connect(db_path)
    try:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute("SELECT * FROM tickets")]
    finally:
        db.close()


def test_a_valid_event_creates_one_ticket_with_the_psa_company(receiver):
    response = send(receiver["url"], envelope())

    assert response.status_code == 204
    [ticket] = tickets(receiver["db"])
    assert ticket["consolidation_key"] == f"incident:EX123456:{TENANT}"
    assert ticket["company_id"] == "19283"
    assert ticket["status"] == "serviceDegradation"
    assert ticket["last_event_type"] == "incident.updated"
    assert ticket["updates"] == 1
    line = printed_line(receiver)
    assert line.split()[1:3] == ["204", response.request.headers["webhook-id"]]
    assert "company=19283" in line


def test_a_redelivery_with_the_same_webhook_id_changes_nothing(receiver):
    event = envelope()
    assert send(receiver["url"], event, webhook_id="msg_" + "a" * 32).status_code == 204

    # A retry: same id and body, a later attempt timestamp (so a fresh signature).
    retry = send(
        receiver["url"],
        event,
        webhook_id="msg_" + "a" * 32,
        sent_at=datetime.now(UTC) + timedelta(seconds=30),
    )

    assert retry.status_code == 204
    [ticket] = tickets(receiver["db"])
    assert ticket["updates"] == 1


def test_another_event_with_the_same_consolidation_key_updates_the_same_ticket(receiver):
    started = datetime.now(UTC)
    send(receiver["url"], envelope("incident.created", at=started))

    response = send(
        receiver["url"],
        envelope("incident.resolved", status="serviceRestored", at=started + timedelta(minutes=5)),
    )

    assert response.status_code == 204
    [ticket] = tickets(receiver["db"])
    assert ticket["updates"] == 2
    assert ticket["status"] == "serviceRestored"
    assert ticket["last_event_type"] == "incident.resolved"


def test_an_overtaken_event_does_not_roll_the_ticket_back(receiver):
    started = datetime.now(UTC)
    send(receiver["url"], envelope("incident.resolved", "serviceRestored", started))

    late_retry = send(
        receiver["url"], envelope("incident.updated", at=started - timedelta(minutes=1))
    )

    assert late_retry.status_code == 204
    [ticket] = tickets(receiver["db"])
    assert (ticket["status"], ticket["updates"]) == ("serviceRestored", 1)


def test_a_tampered_body_is_refused_and_nothing_is_stored(receiver):
    event = envelope()
    tampered = json.dumps(event).replace("19283", "66666").encode()

    response = send(receiver["url"], event, body=tampered)

    assert response.status_code == 401
    assert tickets(receiver["db"]) == []


def test_another_secret_is_refused(receiver):
    other = "whsec_" + base64.b64encode(b"not the subscription's secret!!!").decode()

    response = send(receiver["url"], envelope(), secret=other)

    assert response.status_code == 401
    assert tickets(receiver["db"]) == []


def test_an_old_timestamp_is_refused_and_nothing_is_stored(receiver):
    response = send(receiver["url"], envelope(), sent_at=datetime.now(UTC) - timedelta(minutes=10))

    assert response.status_code == 401
    assert tickets(receiver["db"]) == []


def test_a_refused_webhook_id_is_not_remembered(receiver):
    # The id is kept only with a stored event, so the genuine delivery still gets through.
    webhook_id = "msg_" + "b" * 32
    event = envelope()
    send(receiver["url"], event, webhook_id=webhook_id, body=b"{}")

    response = send(receiver["url"], event, webhook_id=webhook_id)

    assert response.status_code == 204
    assert len(tickets(receiver["db"])) == 1


def test_a_test_event_is_acknowledged_without_a_ticket(receiver):
    event = envelope("webhook.test")
    event["data"]["test"] = True

    response = send(receiver["url"], event)

    assert response.status_code == 204
    assert tickets(receiver["db"]) == []
