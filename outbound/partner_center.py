"""A small Partner Center REST client: the headers every call carries, JSON answers, paging.

``PartnerCenterClient`` knows where (the base URL) and as whom (a callable that returns the
current App+User access token); HTTP goes through the one ``outbound.transport.Transport``.
Every call carries:
- ``MS-RequestId``: what makes a write idempotent. The caller gives it and sends the same value
  when it tries the same request again; a call without one gets a fresh one;
- ``MS-CorrelationId``: fresh on every call;
- ``X-Locale`` (the portal's language), ``Accept: application/json`` and ``MS-Contract-Version``.

A call makes one attempt and raises ``PartnerCenterError`` with the transport's classification
(``retryable``, ``retry_after``; 401 means the token is expired or lacks MFA, and is permanent).
Only a 401 is tried once more, with the same ``MS-RequestId``, after ``forget_token`` dropped the
held token (it may have been revoked early).
Retrying is the caller's choice: a sync tries again on its schedule, an outbox row on its own.
An answer that is not the documented JSON (truncated, HTML, too large) is a retryable error.

``pages`` walks a collection: ``items`` of each page, then ``links.next`` with its
``MS-ContinuationToken`` header, until a page has no next link. A next link that leaves the
base URL's host, or repeats a continuation token already seen, stops the walk with an error.
"""

import json
import uuid

from outbound.transport import TransportError, read_at_most
from outbound.urlguard import same_origin

MAX_BODY_BYTES = 20 * 1024 * 1024
MAX_ERROR_BODY_BYTES = 16 * 1024
MAX_PAGES = 1000
CONTINUATION_HEADER = "MS-ContinuationToken"
CONTRACT_VERSION = "v1"
# Enough of an error's description to tell an admin what Partner Center said.
DESCRIPTION_CHARS = 300


class PartnerCenterError(Exception):
    """A call failed. ``retryable`` says whether trying again later may succeed."""

    def __init__(self, message, *, retryable, status=None, code="", retry_after=None):
        super().__init__(message)
        self.retryable = retryable
        self.status = status
        self.code = code
        self.retry_after = retry_after


def _error_detail(excerpt):
    """Partner Center's documented error body: ``(code, description)``, empty when absent."""
    try:
        payload = json.loads(excerpt)
    except ValueError:
        return "", ""
    if not isinstance(payload, dict):
        return "", ""
    description = str(payload.get("description") or "").splitlines()
    return str(payload.get("code") or ""), description[0][:DESCRIPTION_CHARS] if description else ""


def _failure(exc):
    """The PartnerCenterError for one failed attempt."""
    status = exc.status_code
    if status is None or 300 <= status < 400:
        return PartnerCenterError(
            exc.describe("Partner Center"),
            retryable=exc.retryable,
            retry_after=exc.retry_after,
        )
    code, description = _error_detail(exc.excerpt)
    detail = f": {description}" if description else "."
    if status == 401:
        message = (
            "Partner Center refused the access token (401): it expired, or the partner admin "
            f"who consented did not sign in with MFA{detail}"
        )
    elif status == 429:
        wait = f" in {exc.retry_after:.0f} s" if exc.retry_after is not None else " later"
        message = f"Partner Center is throttling the portal (429); try again{wait}."
    elif exc.retryable:
        message = f"Partner Center answered {status}{detail}"
    else:
        message = f"Partner Center refused the request ({status}){detail}"
    return PartnerCenterError(
        message,
        retryable=exc.retryable,
        status=status,
        code=code,
        retry_after=exc.retry_after,
    )


class PartnerCenterClient:
    """``base_url``: e.g. ``https://api.partnercenter.microsoft.com`` (paths start with
    ``/v1/``). ``token``: a callable returning the bearer token, asked once per call, so a
    token cache behind it is used; ``forget_token``: drops that cache's token after a 401.
    ``locale``: the ``X-Locale`` sent."""

    def __init__(
        self, base_url, *, transport, token, forget_token=None, locale="en-US", timeout=(5, 30)
    ):
        self.base_url = base_url.rstrip("/")
        self.transport = transport
        self.token = token
        self.forget_token = forget_token
        self.locale = locale
        self.timeout = timeout
        transport.guard.check(self.base_url)

    def url(self, path):
        """An absolute URL for ``path``: absolute URLs as they are; ``/v1/...`` under the base
        URL; other absolute paths (links Partner Center writes without the version) under
        ``/v1``."""
        if path.startswith(("http://", "https://")):
            return path
        path = "/" + path.lstrip("/")
        if not path.startswith("/v1/"):
            path = "/v1" + path
        return self.base_url + path

    def headers(self, request_id=None, extra=None):
        return {
            "Authorization": f"Bearer {self.token()}",
            "Accept": "application/json",
            "MS-RequestId": str(request_id or uuid.uuid4()),
            "MS-CorrelationId": str(uuid.uuid4()),
            "MS-Contract-Version": CONTRACT_VERSION,
            "X-Locale": self.locale,
            **(extra or {}),
        }

    def request(self, method, path, *, body=None, request_id=None, headers=None):
        """One call: ``body`` (a dict) is sent as JSON. Returns the answer's JSON (None for an
        empty body); raises PartnerCenterError."""
        extra = dict(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            extra["Content-Type"] = "application/json"
        request_id = str(request_id or uuid.uuid4())
        retry_401 = self.forget_token is not None
        while True:
            try:
                response = self.transport.request(
                    method,
                    self.url(path),
                    headers=self.headers(request_id, extra),
                    body=data,
                    timeout=self.timeout,
                    excerpt_bytes=MAX_ERROR_BODY_BYTES,
                )
            except TransportError as exc:
                if exc.status_code == 401 and retry_401:
                    self.forget_token()
                    retry_401 = False
                    continue
                raise _failure(exc) from None
            return self._json(response)

    def get(self, path, *, request_id=None, headers=None):
        """GET ``path``; its JSON object."""
        payload = self.request("GET", path, request_id=request_id, headers=headers)
        if not isinstance(payload, dict):
            raise PartnerCenterError(
                "Partner Center's answer is not a JSON object.", retryable=True
            )
        return payload

    def pages(self, path):
        """Every item of the collection at ``path``, page after page."""
        url, headers = path, None
        seen = set()
        for _page in range(MAX_PAGES):
            payload = self.get(url, headers=headers)
            items = payload.get("items")
            if not isinstance(items, list):
                raise PartnerCenterError(
                    "A page of Partner Center's collection has no 'items' list.", retryable=True
                )
            yield from items
            following = self._next(payload)
            if following is None:
                return
            url, token = following
            if (url, token) in seen:
                raise PartnerCenterError(
                    "Partner Center's continuation repeats a page; stopped.", retryable=True
                )
            seen.add((url, token))
            headers = {CONTINUATION_HEADER: token} if token else None
        raise PartnerCenterError(f"More than {MAX_PAGES} pages; stopped.", retryable=False)

    def _next(self, payload):
        """``(url, continuation token)`` of the next page, or None on the last one."""
        links = payload.get("links")
        following = links.get("next") if isinstance(links, dict) else None
        if not following:
            return None
        uri = following.get("uri") if isinstance(following, dict) else None
        if not isinstance(uri, str) or not uri:
            raise PartnerCenterError("links.next has no URI.", retryable=True)
        url = self.url(uri)
        if not same_origin(url, self.base_url):
            raise PartnerCenterError(
                "links.next points to another host; not followed.", retryable=False
            )
        token = ""
        for header in following.get("headers") or []:
            if isinstance(header, dict) and str(header.get("key", "")).lower() == (
                CONTINUATION_HEADER.lower()
            ):
                token = str(header.get("value") or "")
        token = token or str(payload.get("continuationToken") or "")
        return url, token

    def _json(self, response):
        try:
            body, more = read_at_most(response, MAX_BODY_BYTES)
        except TransportError as exc:
            raise _failure(exc) from None
        if more:
            raise PartnerCenterError(
                f"Partner Center's answer is larger than {MAX_BODY_BYTES} bytes; refused.",
                retryable=False,
            )
        if not body.strip():
            return None
        try:
            return json.loads(body.decode("utf-8-sig"))
        except (ValueError, UnicodeDecodeError):
            content_type = response.headers.get("Content-Type", "?")
            raise PartnerCenterError(
                f"Partner Center's answer is not JSON ({content_type}, {len(body)} bytes).",
                retryable=True,
            ) from None
