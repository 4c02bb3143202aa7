"""A partner's ticketing webhook (or any support channel taking JSON over HTTPS POST), simulated.

Every POST, to any path, is recorded in ``deliveries`` (headers, raw body, parsed JSON, what was
answered). A delivery creates one ticket per ``Idempotency-Key`` header value: the first POST
with a key answers ``201 {"ticket_id": ..., "duplicate": false}``, every later one with the same
key ``200`` with the same ticket id and ``"duplicate": true``. A POST without the header creates
a ticket each time (or, with ``require_idempotency_key=True``, is refused with 400).

Signatures: constructed with ``secret`` (or a list of secrets, for rotation), the receiver
verifies Standard Webhooks (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``) with the
``standardwebhooks`` library, keying each secret as the portal does: a ``whsec_`` secret as the
library decodes it, any other string by its UTF-8 bytes (``webhook(secret)``). A missing,
malformed, stale (over five minutes) or wrong signature is answered 401 and creates no ticket.
``standard_headers(secret, body)`` makes such headers. ``legacy=True`` stands for a receiver not
yet moved: it checks only the deprecated ``X-Portal-Signature: t=<unix seconds>,v1=<hex
HMAC-SHA256 of "<t>.<raw body>">`` (several ``v1=`` may be given), made by ``sign(secret, body)``.

Scripting: ``respond_next(status, headers, body, delay, times)`` decides the next answers in
order: an error status (500/502/503, 429 with ``Retry-After``, 400/404/410, ...) is answered
without creating a ticket (unless ``process=True``: the ticket is created and the answer lost);
a 2xx status or None processes the delivery normally; ``delay`` holds the answer back (a hang
when longer than the client's timeout; the ticket is created first). ``latency=(min_s, max_s)``
adds a random delay to every answer. Thread-safe. Standard library only.
"""

import hashlib
import hmac
import json
import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from simulators.partner_center import Headers, request_headers
from simulators.scripting import HeldAnswers, as_bytes

STANDARD_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
LEGACY_HEADER = "X-Portal-Signature"
LEGACY_TOLERANCE = 300
IDEMPOTENCY_HEADER = "Idempotency-Key"
CONTENT_TYPE = "application/json"


def webhook(secret):
    """The library's ``Webhook`` for ``secret``: a ``whsec_`` string as the library decodes it,
    another string by its UTF-8 bytes, bytes as they are."""
    if isinstance(secret, str) and not secret.startswith("whsec_"):
        secret = secret.encode()
    return Webhook(secret)


def standard_headers(secret, body, message_id=None, timestamp=None):
    """Standard Webhooks headers for ``body`` (bytes or str) signed now (or at ``timestamp``,
    unix seconds) under ``message_id`` (a fresh one if None)."""
    message_id = message_id or f"msg_{uuid.uuid4().hex}"
    at = datetime.fromtimestamp(int(time.time() if timestamp is None else timestamp), tz=UTC)
    text = body.decode() if isinstance(body, bytes) else body
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": webhook(secret).sign(message_id, at, text),
    }


def signature(secret, timestamp, body):
    """Deprecated scheme: hex HMAC-SHA256 of ``"<timestamp>.<raw body>"``."""
    key = secret.encode() if isinstance(secret, str) else secret
    body = body.encode() if isinstance(body, str) else body
    return hmac.new(key, f"{int(timestamp)}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret, body, timestamp=None):
    """The deprecated ``X-Portal-Signature`` value for ``body`` (bytes or str) signed now (or at
    ``timestamp``, unix seconds)."""
    timestamp = int(time.time() if timestamp is None else timestamp)
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def parse_signature(value):
    """``(timestamp, [v1 hex, ...])`` from a header value; ValueError if malformed."""
    timestamp, candidates = None, []
    for part in (value or "").split(","):
        name, sep, item = part.strip().partition("=")
        if not sep:
            raise ValueError(f"malformed element {part.strip()!r}")
        if name == "t":
            if not item.isdigit():
                raise ValueError("t is not a unix timestamp")
            timestamp = int(item)
        elif name == "v1":
            candidates.append(item.lower())
    if timestamp is None or not candidates:
        raise ValueError("t and v1 are required")
    return timestamp, candidates


@dataclass
class Delivery:
    """One POST as received, and what it was answered."""

    received_at: float
    method: str
    path: str
    headers: Headers
    body: bytes
    json: object = None  # the parsed body; None if it was not JSON
    idempotency_key: str | None = None
    signature_valid: bool | None = None  # None: no secret configured
    status: int | None = None  # the status answered (None while still being answered)
    ticket_id: str | None = None
    duplicate: bool = False
    scripted: bool = False  # answered from respond_next


@dataclass
class Ticket:
    ticket_id: str
    idempotency_key: str | None
    payload: object
    created_at: float
    deliveries: int = 1  # how many deliveries carried its key


@dataclass
class Scripted:
    status: int | None
    headers: dict = field(default_factory=dict)
    body: bytes | None = None
    delay: float = 0.0
    process: bool | None = None


class WebhookReceiver:
    """A WSGI app standing in for a partner's ticketing webhook."""

    # The header that names a delivery for deduplication (one ticket per value).
    idempotency_header = IDEMPOTENCY_HEADER

    def __init__(
        self,
        *,
        secret=None,
        legacy=False,
        latency=None,
        require_idempotency_key=False,
        seed=None,
    ):
        """``secret``: str/bytes, or a list of them (any one may sign); None: no signature
        checks. ``legacy``: check the deprecated X-Portal-Signature instead of Standard Webhooks.
        ``latency``: ``(min_s, max_s)`` random delay added to every answer. ``seed``:
        reproducible latencies."""
        if secret is None:
            self.secrets = []
        elif isinstance(secret, str | bytes):
            self.secrets = [secret]
        else:
            self.secrets = list(secret)
        self.legacy = legacy
        self.latency = latency
        self.require_idempotency_key = require_idempotency_key
        self.deliveries = []  # Delivery, in arrival order
        self.tickets = {}  # ticket id -> Ticket, in creation order
        self.lock = threading.RLock()
        self._by_key = {}  # idempotency key -> ticket id
        self._key_deliveries = Counter()  # idempotency key -> deliveries carrying it
        self._script = []  # Scripted, consumed in order
        self._rng = random.Random(seed)  # noqa: S311 - delays, not cryptography
        self._sequence = 0
        self._held = HeldAnswers()  # answers waiting out a scripted delay
        # Where the receiver is served; set once serving.
        self.base_url = "http://127.0.0.1"

    # --- scripting ----------------------------------------------------------------------------
    def respond_next(
        self, status=None, headers=None, body=None, delay=0.0, times=1, *, process=None
    ):
        """The next ``times`` deliveries are answered ``status`` (None: the normal answer) with
        ``headers`` and ``body`` (bytes, str or JSON-able; None: the normal body, or a short
        error body for an error status) after ``delay`` seconds. A 2xx/None status processes the
        delivery (signature check, ticket) before waiting; an error status creates no ticket
        unless ``process=True`` (processed, then the error answered: a lost acknowledgement)."""
        scripted = Scripted(status, dict(headers or {}), as_bytes(body), delay, process)
        with self.lock:
            self._script.extend([scripted] * times)

    def clear_script(self):
        with self.lock:
            self._script.clear()

    def release(self):
        """Answer every delivery held back by a delay now (e.g. before stopping the server)."""
        self._held.release()

    # --- reading ------------------------------------------------------------------------------
    @property
    def distinct_keys(self):
        """How many distinct Idempotency-Key values were delivered."""
        with self.lock:
            return len(self._key_deliveries)

    @property
    def key_counts(self):
        """Idempotency-Key -> how many deliveries carried it (a copy)."""
        with self.lock:
            return Counter(self._key_deliveries)

    def ticket_for(self, key):
        """The ticket created for an Idempotency-Key, or None."""
        with self.lock:
            ticket_id = self._by_key.get(key)
            return self.tickets.get(ticket_id) if ticket_id else None

    def deliveries_for(self, key):
        with self.lock:
            return [d for d in self.deliveries if d.idempotency_key == key]

    # --- WSGI ---------------------------------------------------------------------------------
    def __call__(self, environ, start_response):
        method = environ["REQUEST_METHOD"].upper()
        headers = request_headers(environ)
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        try:
            parsed = json.loads(body.decode("utf-8")) if body else None
        except (UnicodeDecodeError, ValueError):
            parsed = None
        key = headers.get(self.idempotency_header) or None
        delivery = Delivery(
            received_at=time.time(),
            method=method,
            path=environ.get("PATH_INFO", ""),
            headers=headers,
            body=body,
            json=parsed,
            idempotency_key=key,
        )
        with self.lock:
            self.deliveries.append(delivery)
            if key is not None:
                self._key_deliveries[key] += 1
            scripted = self._script.pop(0) if self._script else None
            extra = self._rng.uniform(*self.latency) if self.latency else 0.0
        delivery.scripted = scripted is not None
        status, payload, reply_headers = None, None, {}
        is_error = scripted is not None and scripted.status is not None and scripted.status >= 300
        if not is_error or (scripted is not None and scripted.process):
            status, payload, reply_headers = self._process(method, delivery, body)
        if scripted is not None:
            self._held.sleep(scripted.delay)
            if is_error:
                status = scripted.status
                if scripted.body is None:
                    payload = {"error": _phrase(status).lower().replace(" ", "_")}
            elif scripted.status is not None and 200 <= status < 300:
                status = scripted.status  # a scripted success never hides a refusal
            if scripted.body is not None:
                payload = scripted.body
            reply_headers = {**reply_headers, **scripted.headers}
        self._held.sleep(extra)
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        delivery.status = status
        return self._respond(start_response, status, raw, reply_headers)

    def _process(self, method, delivery, body):
        if method != "POST":
            return 405, {"error": "method_not_allowed"}, {"Allow": "POST"}
        if self.secrets:
            problem = self.check_signature(delivery.headers, body)
            delivery.signature_valid = problem is None
            if problem:
                return 401, {"error": "invalid_signature", "detail": problem}, {}
        if delivery.json is None:
            return 400, {"error": "invalid_json", "detail": "The body is not JSON."}, {}
        key = delivery.idempotency_key
        if key is None and self.require_idempotency_key:
            return 400, {"error": "missing_idempotency_key"}, {}
        with self.lock:
            ticket_id = self._by_key.get(key) if key is not None else None
            if ticket_id is not None:
                ticket = self.tickets[ticket_id]
                ticket.deliveries += 1
                delivery.ticket_id, delivery.duplicate = ticket_id, True
                return 200, {"ticket_id": ticket_id, "duplicate": True}, {}
            self._sequence += 1
            ticket_id = f"TCK-{self._sequence:06d}"
            self.tickets[ticket_id] = Ticket(ticket_id, key, delivery.json, time.time())
            if key is not None:
                self._by_key[key] = ticket_id
            delivery.ticket_id = ticket_id
        return 201, {"ticket_id": ticket_id, "duplicate": False}, {}

    def check_signature(self, headers, body):
        """None if the signature is good, else why not."""
        if self.legacy:
            return self.check_legacy_signature(headers, body)
        wanted = {name: headers.get(name) or "" for name in STANDARD_HEADERS}
        if not all(wanted.values()):
            return "webhook-id, webhook-timestamp and webhook-signature are required."
        problem = "No secret to check with."
        for secret in self.secrets:
            try:
                webhook(secret).verify(body, wanted, json_parse=False)
            except WebhookVerificationError as error:
                problem = str(error)
                continue
            except ValueError as error:  # garbage the library lets through: bad base64, not UTF-8
                return f"Malformed signature headers ({type(error).__name__})."
            return None
        return problem

    def check_legacy_signature(self, headers, body):
        value = headers.get(LEGACY_HEADER)
        if not value:
            return f"{LEGACY_HEADER} is missing."
        try:
            timestamp, candidates = parse_signature(value)
        except ValueError as error:
            return f"{LEGACY_HEADER} is malformed: {error}."
        if abs(time.time() - timestamp) > LEGACY_TOLERANCE:
            return "The signature's timestamp is outside the tolerance."
        for secret in self.secrets:
            expected = signature(secret, timestamp, body)
            if any(hmac.compare_digest(expected, candidate) for candidate in candidates):
                return None
        return "The signature does not match."

    @staticmethod
    def _respond(start_response, status, body, headers):
        headers = dict(headers)
        content_type = headers.pop("Content-Type", CONTENT_TYPE)
        start_response(
            f"{status} {_phrase(status)}",
            [("Content-Type", content_type), ("Content-Length", str(len(body))), *headers.items()],
        )
        return [body]


def _phrase(status):
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Status"
