"""``Idempotency-Key`` on API creates (RELIABILITY.md W3): a retried POST opens one request.

The first request with a key runs and, if it succeeds, its answer (status and body) is kept for
24 hours under the caller and the key. The same key with the same body answers that first response
again; the same key with a different body is refused with 422; while the first is still running, a
second one gets 409. Failed requests keep nothing, so the client may fix them and retry with the
same key.

Interim store: Django's cache (``idem:<user id>:<key>``). Its limits: a cache outage turns the
check off (the create still works, R3), and a cache write lost after the commit lets a retry create
a second request. A database row written in the create's own transaction closes both gaps.
"""

import hashlib
import json
import logging
import re

from django.core.cache import cache
from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.response import Response

logger = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotent-Replayed"
TTL = 24 * 60 * 60
# How long a request may hold its key before the key is free again (a crashed worker).
IN_PROGRESS_TTL = 60
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


def _cache_call(operation, *args, default=None):
    try:
        return getattr(cache, operation)(*args)
    except Exception:  # the cache is down: the create must still work (RELIABILITY R3)
        logger.warning("idempotency cache unavailable during %s", operation, exc_info=True)
        return default


def run_once(request, run):
    """Call ``run()`` (which returns a Response) at most once per caller and Idempotency-Key."""
    key = request.headers.get(HEADER)
    if key is None:
        return run()
    if not KEY_PATTERN.match(key):
        raise ValidationError(
            {HEADER: ["Use 1 to 255 visible ASCII characters, such as a UUID."]},
            code="invalid",
        )
    cache_key = f"idem:{request.user.pk}:{key}"
    digest = fingerprint(request)
    for _attempt in range(2):
        claimed = _cache_call(
            "add",
            cache_key,
            {"fingerprint": digest, "status": None, "body": None},
            IN_PROGRESS_TTL,
            default=None,
        )
        if claimed is None:  # no cache: run without the check rather than refuse the request
            return run()
        if claimed:
            break
        stored = _cache_call("get", cache_key)
        if stored is None:  # it expired between the two calls: try to claim it again
            continue
        if stored["fingerprint"] != digest:
            raise IdempotencyKeyReused
        if stored["status"] is None:
            raise IdempotencyKeyInProgress
        headers = {**stored.get("headers", {}), REPLAY_HEADER: "true"}
        return Response(stored["body"], status=stored["status"], headers=headers)
    else:
        raise IdempotencyKeyInProgress
    try:
        response = run()
    except BaseException:
        _cache_call("delete", cache_key)
        raise
    if status.is_success(response.status_code):
        _cache_call(
            "set",
            cache_key,
            {
                "fingerprint": digest,
                "status": response.status_code,
                "body": response.data,
                "headers": {
                    name: response[name] for name in KEPT_HEADERS if response.has_header(name)
                },
            },
            TTL,
        )
    else:
        _cache_call("delete", cache_key)
    return response
