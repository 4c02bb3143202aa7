"""``Idempotency-Key`` on API creates (W3, docs/reliability.md): a retried POST opens one request.

The key (per caller) is a database row written in the same transaction as the request it
creates, together with the answer. The same key with the same body answers that first response
again; the same key with a different body is refused with 422. A concurrent duplicate waits on
the unique index until the first commits, then rolls its own work back and replays. A failed
request keeps nothing (its transaction rolls back), so the client may fix it and retry with the
same key. Keys are kept a day.
"""

import hashlib
import json
import logging
import re
from datetime import timedelta

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.response import Response

from servicerequests.models import ApiIdempotencyKey

logger = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotent-Replayed"
KEEP_FOR = timedelta(days=1)
# Response headers a replay repeats.
KEPT_HEADERS = ("Location",)
KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")


class IdempotencyKeyReused(APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = (
        "This Idempotency-Key was already used with a different request body. "
        "Use a new key for a new request."
    )
    default_code = "idempotency_key_reused"


class IdempotencyKeyInProgress(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = (
        "A request with this Idempotency-Key is still being processed; retry in a moment."
    )
    default_code = "idempotency_key_in_progress"


def fingerprint(request):
    """A digest of what the request asks for: method, path and body (key order ignored)."""
    data = request.data
    if hasattr(data, "lists"):  # a QueryDict from a form body
        data = dict(data.lists())
    canonical = json.dumps(
        [request.method, request.path, data], sort_keys=True, separators=(",", ":"), default=str
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


class _KeyTaken(Exception):
    """Another request with the key committed first; this one's transaction rolls back."""


def run_once(request, run):
    """Call ``run()`` (which returns a Response) at most once per caller and Idempotency-Key.

    The key's row is written last, with the answer, in ``run``'s transaction: one statement
    instead of a savepoint, an insert and an update. A duplicate that finds the row replays it;
    one running at the same time does its work, waits on the unique index for the first to
    commit, rolls its own work back and replays the first's answer."""
    key = request.headers.get(HEADER)
    if key is None:
        return run()
    if not KEY_PATTERN.match(key):
        raise ValidationError(
            {HEADER: ["Use 1 to 255 visible ASCII characters, such as a UUID."]},
            code="invalid",
        )
    digest = fingerprint(request)
    stored = ApiIdempotencyKey.objects.filter(user=request.user, key=key).first()
    if stored is not None:
        return _replay(stored, digest)
    try:
        with transaction.atomic():
            response = run()
            if not status.is_success(response.status_code):
                transaction.set_rollback(True)  # keep nothing: the client may fix and retry
                return response
            _store(request.user, key, digest, response)
            return response
    except _KeyTaken:
        return _replay(ApiIdempotencyKey.objects.get(user=request.user, key=key), digest)


def _store(user, key, digest, response):
    try:
        ApiIdempotencyKey.objects.create(
            user=user,
            key=key,
            fingerprint=digest,
            status_code=response.status_code,
            response_body=json.dumps(response.data, cls=DjangoJSONEncoder),
            response_headers={
                name: response[name] for name in KEPT_HEADERS if response.has_header(name)
            },
        )
    except IntegrityError:
        raise _KeyTaken from None


def _replay(stored, digest):
    """The stored answer again, or why not."""
    if stored.fingerprint != digest:
        raise IdempotencyKeyReused
    if not stored.status_code:
        raise IdempotencyKeyInProgress
    headers = {**stored.response_headers, REPLAY_HEADER: "true"}
    body = json.loads(stored.response_body) if stored.response_body else None
    return Response(body, status=stored.status_code, headers=headers)


def purge(now=None):
    """Forget keys older than a day."""
    cutoff = (now or timezone.now()) - KEEP_FOR
    return ApiIdempotencyKey.objects.filter(created_at__lt=cutoff).delete()[0]
