"""The webhook receiver over real HTTP on loopback: signatures, idempotent tickets, scripted
answers, latency, concurrency. No database."""

import base64
import json
import threading
import time
from contextlib import ExitStack
from datetime import UTC, datetime

import pytest
import requests
from standardwebhooks.webhooks import Webhook

from simulators.http import SimulatorServer
from simulators.webhook_receiver import (
    WebhookReceiver,
    parse_signature,
    sign,
    signature,
    standard_headers,
)

SECRET = "whsec-test-secret"  # not whsec_: keyed by its UTF-8 bytes
WHSEC = "whsec_" + base64.b64encode(b"a standard webhooks secret!!").decode()
PAYLOAD = {"event": "incident.escalated", "incident": {"id": 42, "title": "Mail delayed"}}


@pytest.fixture
def serve():
    """``serve(receiver)`` runs it on a free loopback port and returns its base URL."""
    with ExitStack() as running:
        yield lambda receiver: running.enter_context(SimulatorServer(receiver)).url


def post(url, payload=PAYLOAD, *, key=None, secret=None, headers=None, timeout=5, raw=None):
    body = raw if raw is not None else json.dumps(payload).encode()
    sent = {"Content-Type": "application/json"}
    if key is not None:
        sent["Idempotency-Key"] = key
    if secret is not None:
        sent.update(standard_headers(secret, body))
    sent.update(headers or {})
    return requests.post(f"{url}/hooks/tickets", data=body, headers=sent, timeout=timeout)


# --- signatures ---------------------------------------------------------------------------------


def test_standard_headers_follow_the_library():
    headers = standard_headers(WHSEC, b'{"a":1}', message_id="msg_1", timestamp=1_700_000_000)
    assert headers == {
        "webhook-id": "msg_1",
        "webhook-timestamp": "1700000000",
        "webhook-signature": Webhook(WHSEC).sign(
            "msg_1", datetime.fromtimestamp(1_700_000_000, tz=UTC), '{"a":1}'
        ),
    }
    plain = standard_headers(SECRET, b"{}", message_id="msg_1", timestamp=1_700_000_000)
    assert plain["webhook-signature"] == Webhook(SECRET.encode()).sign(
        "msg_1", datetime.fromtimestamp(1_700_000_000, tz=UTC), "{}"
    )


def test_sign_and_parse():
    header = sign(SECRET, b'{"a":1}', timestamp=1_700_000_000)
    timestamp, [v1] = parse_signature(header)
    assert timestamp == 1_700_000_000
    assert v1 == signature(SECRET, 1_700_000_000, b'{"a":1}')
    assert len(v1) == 64
    with pytest.raises(ValueError):
        parse_signature("v1=abc")
    with pytest.raises(ValueError):
        parse_signature("t=soon,v1=abc")


@pytest.mark.parametrize("secret", [SECRET, WHSEC])
def test_a_good_signature_is_accepted(serve, secret):
    receiver = WebhookReceiver(secret=secret)
    url = serve(receiver)
    response = post(url, key="k1", secret=secret)
    assert response.status_code == 201, response.text
    [delivery] = receiver.deliveries
    assert delivery.signature_valid is True
    assert delivery.json == PAYLOAD
    assert delivery.headers["webhook-signature"].startswith("v1,")
    assert delivery.path == "/hooks/tickets"
    assert delivery.status == 201
    assert receiver.ticket_for("k1").payload == PAYLOAD


def bad_headers(kind, body):
    """Headers of one kind of bad signature for ``body``."""
    good = standard_headers(SECRET, body)
    return {
        "missing": {},
        "no_id": {**good, "webhook-id": ""},
        "garbage": {**good, "webhook-signature": "garbage"},
        "not_base64": {**good, "webhook-signature": "v1,!!!"},
        "timestamp_not_a_number": {**good, "webhook-timestamp": "soon"},
        "wrong-secret": standard_headers("not-the-secret", body),
        "stale": standard_headers(SECRET, body, timestamp=time.time() - 3600),
        "other-body": standard_headers(SECRET, b'{"event": "something else"}'),
        "legacy_only": {"X-Portal-Signature": sign(SECRET, body)},
    }[kind]


@pytest.mark.parametrize(
    "kind",
    [
        "missing",
        "no_id",
        "garbage",
        "not_base64",
        "timestamp_not_a_number",
        "wrong-secret",
        "stale",
        "other-body",
        "legacy_only",
    ],
)
def test_a_bad_or_missing_signature_is_refused(serve, kind):
    receiver = WebhookReceiver(secret=SECRET)
    url = serve(receiver)
    body = json.dumps(PAYLOAD).encode()
    response = post(url, key="k1", headers=bad_headers(kind, body))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_signature"
    [delivery] = receiver.deliveries  # recorded ...
    assert delivery.signature_valid is False and delivery.ticket_id is None
    assert receiver.tickets == {}  # ... but no ticket
    assert receiver.ticket_for("k1") is None


def test_secret_rotation(serve):
    receiver = WebhookReceiver(secret=["new-secret", SECRET])
    url = serve(receiver)
    assert post(url, key="a", secret=SECRET).status_code == 201
    assert post(url, key="b", secret="new-secret").status_code == 201
    assert post(url, key="c", secret="retired").status_code == 401


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("good", 201),
        ("wrong-secret", 401),
        ("stale", 401),
        ("malformed", 401),
        ("standard_only", 401),
    ],
)
def test_a_legacy_receiver_checks_only_x_portal_signature(serve, header, expected):
    receiver = WebhookReceiver(secret=SECRET, legacy=True)
    url = serve(receiver)
    body = json.dumps(PAYLOAD).encode()
    headers = {
        "good": {"X-Portal-Signature": sign(SECRET, body)},
        "wrong-secret": {"X-Portal-Signature": sign("not-the-secret", body)},
        "stale": {"X-Portal-Signature": sign(SECRET, body, timestamp=time.time() - 3600)},
        "malformed": {"X-Portal-Signature": "t=now,v1=00"},
        "standard_only": standard_headers(SECRET, body),
    }[header]
    assert post(url, key="k", headers=headers).status_code == expected


# --- tickets ------------------------------------------------------------------------------------


def test_one_ticket_per_idempotency_key(serve):
    receiver = WebhookReceiver()
    url = serve(receiver)
    first = post(url, key="key-1")
    again = post(url, key="key-1")
    other = post(url, key="key-2")
    assert first.status_code == 201 and again.status_code == 200 and other.status_code == 201
    assert again.json()["ticket_id"] == first.json()["ticket_id"]
    assert again.json()["duplicate"] is True and first.json()["duplicate"] is False
    assert other.json()["ticket_id"] != first.json()["ticket_id"]
    assert receiver.distinct_keys == 2
    assert receiver.key_counts == {"key-1": 2, "key-2": 1}
    assert len(receiver.tickets) == 2
    assert receiver.ticket_for("key-1").deliveries == 2
    assert [d.status for d in receiver.deliveries_for("key-1")] == [201, 200]


def test_without_a_key(serve):
    receiver = WebhookReceiver()
    url = serve(receiver)
    assert post(url).status_code == 201
    assert post(url).status_code == 201
    assert len(receiver.tickets) == 2 and receiver.distinct_keys == 0
    strict = WebhookReceiver(require_idempotency_key=True)
    strict_url = serve(strict)
    assert post(strict_url).status_code == 400
    assert strict.tickets == {}


def test_invalid_json_and_wrong_method(serve):
    receiver = WebhookReceiver()
    url = serve(receiver)
    assert post(url, key="k", raw=b"{oops").status_code == 400
    assert requests.get(f"{url}/hooks/tickets", timeout=5).status_code == 405
    assert receiver.tickets == {}
    assert [d.json for d in receiver.deliveries] == [None, None]
    assert receiver.deliveries[0].body == b"{oops"


# --- scripted answers ---------------------------------------------------------------------------


def test_respond_next_sequence(serve):
    receiver = WebhookReceiver()
    url = serve(receiver)
    receiver.respond_next(503, times=2)
    receiver.respond_next(429, headers={"Retry-After": "7"})
    receiver.respond_next(
        502, body=b"<html>Bad gateway</html>", headers={"Content-Type": "text/html"}
    )
    answers = [post(url, key="k") for _ in range(5)]
    assert [a.status_code for a in answers] == [503, 503, 429, 502, 201]
    assert answers[2].headers["Retry-After"] == "7"
    assert answers[3].headers["Content-Type"] == "text/html"
    assert answers[3].text == "<html>Bad gateway</html>"
    assert len(receiver.tickets) == 1  # only the last one got through
    assert receiver.key_counts["k"] == 5
    assert [d.scripted for d in receiver.deliveries] == [True, True, True, True, False]


@pytest.mark.parametrize("status", [400, 404, 410, 500])
def test_client_and_server_errors(serve, status):
    receiver = WebhookReceiver()
    url = serve(receiver)
    receiver.respond_next(status)
    response = post(url, key="k")
    assert response.status_code == status
    assert "error" in response.json()
    assert receiver.tickets == {}
    assert post(url, key="k").status_code == 201


def test_scripted_success_status_and_body(serve):
    receiver = WebhookReceiver()
    url = serve(receiver)
    receiver.respond_next(202, body={"accepted": True})
    response = post(url, key="k")
    assert response.status_code == 202 and response.json() == {"accepted": True}
    assert receiver.ticket_for("k") is not None


def test_a_lost_acknowledgement_then_a_retry(serve):
    receiver = WebhookReceiver()
    url = serve(receiver)
    receiver.respond_next(500, process=True)
    assert post(url, key="k").status_code == 500
    ticket = receiver.ticket_for("k")
    assert ticket is not None
    retry = post(url, key="k")
    assert retry.status_code == 200 and retry.json()["ticket_id"] == ticket.ticket_id
    assert len(receiver.tickets) == 1


def test_a_hang_times_the_client_out(serve):
    receiver = WebhookReceiver()
    url = serve(receiver)
    receiver.respond_next(delay=5)
    with pytest.raises(requests.exceptions.ReadTimeout):
        post(url, key="k", timeout=0.3)
    receiver.release()
    # The delivery got in before the answer hung: the retry finds its ticket.
    retry = post(url, key="k")
    assert retry.status_code == 200
    assert len(receiver.tickets) == 1


def test_a_hang_with_an_error_creates_nothing(serve):
    receiver = WebhookReceiver()
    url = serve(receiver)
    receiver.respond_next(504, delay=5)
    with pytest.raises(requests.exceptions.ReadTimeout):
        post(url, key="k", timeout=0.3)
    assert receiver.tickets == {}


def test_clear_script(serve):
    receiver = WebhookReceiver()
    url = serve(receiver)
    receiver.respond_next(500, times=3)
    receiver.clear_script()
    assert post(url, key="k").status_code == 201


# --- load -----------------------------------------------------------------------------------------


def test_latency_mode(serve):
    receiver = WebhookReceiver(latency=(0.05, 0.1), seed=3)
    url = serve(receiver)
    for n in range(4):
        started = time.monotonic()
        assert post(url, key=f"k{n}").status_code == 201
        assert time.monotonic() - started >= 0.05


def test_twenty_concurrent_posts_are_all_recorded(serve):
    receiver = WebhookReceiver(secret=SECRET, latency=(0.0, 0.02))
    url = serve(receiver)
    answers = []

    def deliver(n):
        answers.append(post(url, {"n": n}, key=f"key-{n}", secret=SECRET))

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a.status_code for a in answers) == [201] * 20
    assert len(receiver.deliveries) == 20
    assert receiver.distinct_keys == 20
    assert len({a.json()["ticket_id"] for a in answers}) == 20 == len(receiver.tickets)
    assert sorted(d.json["n"] for d in receiver.deliveries) == list(range(20))


def test_twenty_concurrent_repeats_make_one_ticket(serve):
    receiver = WebhookReceiver()
    url = serve(receiver)
    answers = []
    threads = [
        threading.Thread(target=lambda: answers.append(post(url, key="same"))) for _ in range(20)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a.status_code for a in answers) == [200] * 19 + [201]
    assert len({a.json()["ticket_id"] for a in answers}) == 1
    assert len(receiver.tickets) == 1 and len(receiver.deliveries) == 20
    assert receiver.key_counts == {"same": 20}
