"""The one signing scheme: Standard Webhooks made and checked by ``outbound.signing``, checked
against the ``standardwebhooks`` library the way a receiver checks; and the deprecated
``X-Portal-Signature``. No database, no network: signing is arithmetic."""

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook

from outbound import signing
from outbound.signing import SignatureError

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
WHSEC = "whsec_" + base64.b64encode(b"0123456789abcdef01234567").decode()
PLAIN = "a-channel-secret-of-any-text-ü"
BODY = b'{"number":"SR-1","status":"closed"}'
ID = "msg_2b7a0c1e"


def signed(secrets=(WHSEC,), body=BODY, at=NOW, message_id=ID):
    return signing.sign_headers(list(secrets), message_id, body, at)


def test_the_published_test_vector_is_reproduced():
    # The example of the Standard Webhooks specification, so the scheme cannot drift.
    headers = signing.sign_headers(
        ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        b'{"test": 2432232314}',
        datetime.fromtimestamp(1614265330, tz=UTC),
    )
    assert headers == {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }


@pytest.mark.parametrize(("secret", "receiver_key"), [(WHSEC, WHSEC), (PLAIN, PLAIN.encode())])
def test_a_round_trip_verifies_here_and_with_the_library(secret, receiver_key):
    headers = signed([secret])
    assert signing.verify([secret], headers, BODY, NOW + timedelta(seconds=30)) == ID
    # A receiver's library: a whsec_ secret given as is, any other secret as its UTF-8 bytes.
    fresh = signing.sign_headers([secret], ID, BODY, datetime.now(UTC))
    assert Webhook(receiver_key).verify(BODY, fresh) == {"number": "SR-1", "status": "closed"}


def test_header_names_are_read_in_any_case():
    headers = {name.title(): value for name, value in signed().items()}
    assert signing.verify([WHSEC], headers, BODY, NOW) == ID


def test_during_a_rotation_both_secrets_sign_and_either_verifies():
    headers = signed([PLAIN, WHSEC])
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert signing.verify([WHSEC], headers, BODY, NOW) == ID
    assert signing.verify([PLAIN], headers, BODY, NOW) == ID
    with pytest.raises(SignatureError, match="bad signature"):
        signing.verify(["another-secret-of-enough-length"], headers, BODY, NOW)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda headers, body: (headers, body.replace(b"closed", b"open")),
        lambda headers, body: ({**headers, "webhook-id": "msg_other"}, body),
        lambda headers, body: (
            {**headers, "webhook-timestamp": str(int(NOW.timestamp()) + 1)},
            body,
        ),
        lambda headers, body: (signed(["not-the-secret-but-long-enough"]), body),
    ],
    ids=["body", "id", "timestamp", "secret"],
)
def test_anything_tampered_is_refused(tamper):
    headers, body = tamper(signed(), BODY)
    with pytest.raises(SignatureError, match="bad signature"):
        signing.verify([WHSEC], headers, body, NOW)


@pytest.mark.parametrize("offset", [-301, 301, -86400 * 365])
def test_a_timestamp_more_than_five_minutes_away_is_refused(offset):
    headers = signed()
    with pytest.raises(SignatureError, match="five-minute"):
        signing.verify([WHSEC], headers, BODY, NOW + timedelta(seconds=offset))


@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_a_timestamp_within_five_minutes_is_accepted(offset):
    assert signing.verify([WHSEC], signed(), BODY, NOW + timedelta(seconds=offset)) == ID


def test_a_replay_returns_the_same_id_and_cannot_be_refreshed():
    headers = signed()
    # As is, it verifies again: the caller refuses it by the webhook-id it already stored.
    assert signing.verify([WHSEC], headers, BODY, NOW) == signing.verify(
        [WHSEC], headers, BODY, NOW + timedelta(seconds=60)
    )
    # Moved past the window with a new timestamp, it no longer matches: the timestamp is signed.
    later = NOW + timedelta(minutes=10)
    refreshed = {**headers, "webhook-timestamp": str(int(later.timestamp()))}
    with pytest.raises(SignatureError, match="bad signature"):
        signing.verify([WHSEC], refreshed, BODY, later)


NON_ASCII = "ünïcödé ✓ 😀".encode().decode("latin-1")
GARBAGE = {
    "no_id": {"webhook-id": ""},
    "no_timestamp": {"webhook-timestamp": ""},
    "no_signature": {"webhook-signature": ""},
    "non_ascii_id": {"webhook-id": NON_ASCII},
    "control_character_id": {"webhook-id": "msg_\x00"},
    "huge_id": {"webhook-id": "m" * 129},
    "timestamp_of_400_digits": {"webhook-timestamp": "9" * 400},
    "negative_timestamp": {"webhook-timestamp": "-" + "9" * 400},
    "float_timestamp": {"webhook-timestamp": "1.7e9"},
    "nan_timestamp": {"webhook-timestamp": "nan"},
    "non_ascii_timestamp": {"webhook-timestamp": "１７７２４４３８００"},
    "non_ascii_signature": {"webhook-signature": "v1," + NON_ASCII * 4},
    "no_comma": {"webhook-signature": "v1"},
    "empty_v1": {"webhook-signature": "v1,"},
    "not_base64": {"webhook-signature": "v1,!!!!"},
    "other_version_only": {"webhook-signature": "v2,AAAA"},
    "huge_signature": {"webhook-signature": "v1," + "A" * 65536},
    "many_commas": {"webhook-signature": "v1,a,b,c v1 , ,"},
}


@pytest.mark.parametrize("kind", sorted(GARBAGE))
def test_garbage_headers_raise_the_one_error(kind):
    headers = {**signed(), **GARBAGE[kind]}
    with pytest.raises(SignatureError):
        signing.verify([WHSEC], headers, BODY, NOW)


def test_a_body_that_is_not_utf8_is_refused():
    with pytest.raises(SignatureError, match="UTF-8"):
        signing.verify([WHSEC], signed(), b"\xff\xfe\x00", NOW)


def test_secrets_become_keys_by_one_rule():
    assert signing.signing_key(WHSEC) == b"0123456789abcdef01234567"
    # Padding may be left out, as the library allows.
    assert signing.signing_key(WHSEC.rstrip("=")) == b"0123456789abcdef01234567"
    assert signing.signing_key(PLAIN) == PLAIN.encode()
    for unusable in ("whsec_", "whsec_a", ""):
        with pytest.raises(SignatureError):
            signing.signing_key(unusable)


# --- deprecated: X-Portal-Signature ------------------------------------------------------------


def test_the_legacy_header_is_the_old_hmac():
    value = signing.legacy_sign(PLAIN, BODY, NOW)
    seconds = int(NOW.timestamp())
    digest = hmac.new(PLAIN.encode(), f"{seconds}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert value == f"t={seconds},v1={digest}"
    assert signing.legacy_verify([PLAIN], value, BODY, NOW + timedelta(seconds=299)) == digest


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "garbage",
        f"t={int(NOW.timestamp())}",
        "v1=" + "0" * 64,
        f"t={'9' * 400},v1={'0' * 64}",
        f"t={NON_ASCII},v1={'0' * 64}",
        f"t={int(NOW.timestamp())},v1={NON_ASCII * 4}",
        # Two headers joined by a comma: two timestamps.
        f"{signing.legacy_sign(PLAIN, BODY, NOW)}, {signing.legacy_sign(PLAIN, BODY, NOW)}",
        signing.legacy_sign("not-the-secret", BODY, NOW),
        signing.legacy_sign(PLAIN, BODY, NOW - timedelta(seconds=301)),
        signing.legacy_sign(PLAIN, b"{}", NOW),
    ],
)
def test_a_bad_legacy_header_raises_the_one_error(value):
    with pytest.raises(SignatureError):
        signing.legacy_verify([PLAIN], value, BODY, NOW)
