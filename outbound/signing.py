"""The one signing scheme: Standard Webhooks, through the ``standardwebhooks`` library.

Everything the portal signs (webhook deliveries, the webhook channel's requests) carries
``webhook-id``, ``webhook-timestamp`` (unix seconds) and ``webhook-signature`` (``v1,<base64
HMAC-SHA256 of "<id>.<timestamp>.<body>">``, several separated by spaces while a rotated secret is
still in its grace), and everything it accepts signed (the webhook channel's status callbacks) is
checked here the same way.

Keys. A secret becomes key bytes by one rule, on both sides: a secret starting with ``whsec_``
is base64 after the prefix and its decoded bytes are the key (exactly as the library decodes it,
so a receiver may hand the string to its ``Webhook``); any other secret (a channel's
``signing_secret`` may be any string of 24 characters or more) is keyed by its UTF-8 bytes, which
a receiver passes to ``Webhook`` as bytes.

Deprecated: ``X-Portal-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`` keyed
by the secret's UTF-8 bytes, the channel's scheme before Standard Webhooks. ``legacy_sign`` and
``legacy_verify`` keep it for one release, while ``CHANNEL_LEGACY_SIGNATURE`` is on; they go
with it.

Every refusal raises ``SignatureError``, whatever the sender put in the headers.
"""

import base64
import binascii
import hashlib
import hmac
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"  # noqa: S105 - the Standard Webhooks prefix, not a secret
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
LEGACY_HEADER = "X-Portal-Signature"
TOLERANCE_SECONDS = 5 * 60
# Longer ids are refused: the receiving side stores them to refuse replays.
MAX_ID_LENGTH = 128
# Twelve digits reach the year 33658: longer is garbage, refused before any arithmetic.
MAX_TIMESTAMP_DIGITS = 12


class SignatureError(Exception):
    """A signed request refused: why, in words that never hold a secret."""


def signing_key(secret):
    """The key bytes of ``secret`` (see the module's docstring); SignatureError if unusable."""
    if not secret.startswith(SECRET_PREFIX):
        key = secret.encode()
    else:
        try:
            # As the library's Webhook decodes it (padding optional, stray characters skipped),
            # so a receiver handing it the string gets the same key.
            key = base64.b64decode(secret[len(SECRET_PREFIX) :] + "==")
        except (binascii.Error, ValueError):
            raise SignatureError("the signing secret is not base64 after whsec_") from None
    if not key:
        raise SignatureError("the signing secret is empty")
    return key


def sign_headers(secrets, message_id, body, timestamp):
    """The three Standard Webhooks headers for ``body`` (bytes) sent at ``timestamp`` (an aware
    datetime): one signature per secret, so a receiver holding either one of a rotated pair
    verifies."""
    at = datetime.fromtimestamp(int(timestamp.timestamp()), tz=UTC)
    text = body.decode()  # the library signs text; our bodies are JSON, so UTF-8
    signatures = [Webhook(signing_key(secret)).sign(message_id, at, text) for secret in secrets]
    return {
        ID_HEADER: message_id,
        TIMESTAMP_HEADER: str(int(at.timestamp())),
        SIGNATURE_HEADER: " ".join(signatures),
    }


def verify(secrets, headers, body, now):
    """Check a Standard Webhooks request; return its ``webhook-id`` (to refuse a replay).

    ``headers``: any mapping, names in any case. ``now``: an aware datetime. The library's own
    ``verify`` is not used: it reads the clock itself and lets garbage headers raise other errors
    than its own. Its ``sign`` makes the expected signature.
    """
    found = {name.lower(): value for name, value in headers.items()}
    message_id = found.get(ID_HEADER) or ""
    timestamp = found.get(TIMESTAMP_HEADER) or ""
    signature = found.get(SIGNATURE_HEADER) or ""
    if not (message_id and timestamp and signature):
        raise SignatureError("missing webhook-id, webhook-timestamp or webhook-signature")
    if not (message_id.isascii() and message_id.isprintable()) or len(message_id) > MAX_ID_LENGTH:
        raise SignatureError("malformed webhook-id")
    seconds = _check_timestamp(timestamp, now)
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise SignatureError("the body is not UTF-8") from None
    given = _given_signatures(signature)
    at = datetime.fromtimestamp(seconds, tz=UTC)
    for secret in secrets:
        expected = base64.b64decode(
            Webhook(signing_key(secret)).sign(message_id, at, text).split(",", 1)[1]
        )
        if any(hmac.compare_digest(expected, candidate) for candidate in given):
            return message_id
    raise SignatureError("bad signature")


def _check_timestamp(value, now):
    """Whole unix seconds within the window of ``now``; SignatureError otherwise."""
    if not (value.isascii() and value.isdigit()) or len(value) > MAX_TIMESTAMP_DIGITS:
        raise SignatureError("malformed timestamp")
    seconds = int(value)
    if abs(int(now.timestamp()) - seconds) > TOLERANCE_SECONDS:
        raise SignatureError("timestamp outside the five-minute window")
    return seconds


def _given_signatures(value):
    """The decoded ``v1`` signatures of a ``webhook-signature`` value; others are skipped."""
    given = []
    for item in value.split(" "):
        version, _comma, encoded = item.partition(",")
        if version != "v1" or not encoded.isascii():
            continue
        try:
            given.append(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError):
            continue
    return given


# --- deprecated: X-Portal-Signature, for one release ---------------------------------------------


def legacy_sign(secret, body, timestamp):
    """Deprecated. The ``X-Portal-Signature`` value for ``body`` at ``timestamp`` (aware datetime)."""
    seconds = int(timestamp.timestamp())
    return f"t={seconds},v1={_legacy_digest(secret, seconds, body)}"


def legacy_verify(secrets, value, body, now):
    """Deprecated. Check an ``X-Portal-Signature`` value; return the signature that matched (to
    refuse a replay). Several ``v1=`` may be given; one matching is enough."""
    parts = [part.strip().partition("=") for part in (value or "").split(",")]
    timestamps = [item for name, _eq, item in parts if name == "t"]
    given = [item.lower() for name, _eq, item in parts if name == "v1" and item.isascii()]
    if len(timestamps) != 1 or not given:
        raise SignatureError("missing or malformed signature header")
    seconds = _check_timestamp(timestamps[0], now)
    for secret in secrets:
        expected = _legacy_digest(secret, seconds, body)
        for candidate in given:
            if hmac.compare_digest(expected, candidate):
                return candidate
    raise SignatureError("bad signature")


def _legacy_digest(secret, seconds, body):
    return hmac.new(secret.encode(), f"{seconds}.".encode() + body, hashlib.sha256).hexdigest()
