"""A small Microsoft Graph client: OAuth2 client credentials, paging, retries, defensive limits.

Shared by everything that reads Graph (GDAP relationships, service health). One
``GraphConnection`` says where and as whom; the base and token URLs are data, so the same code
talks to Microsoft and to the bundled simulator. HTTP goes through ``outbound.transport``, whose
classification this client follows, within a total deadline:
- retryable failures (connection errors, timeouts, 408, 429, 5xx) are tried again, after
  ``Retry-After`` when Graph sends one and with exponential backoff otherwise;
- 401 and 403 are permanent: the app lacks consent or a role, and retrying cannot help (a 401
  first fetches a new token once, in case the cached one was revoked);
- a body that is not the JSON Graph documents (truncated, HTML, wrong shape, too large) is an error;
- ``@odata.nextLink`` must stay on the base URL's host, and a link seen twice stops the walk;
- at most ``requests_per_minute`` requests per tenant and minute (and ``requests_per_hour`` an
  hour), counted across every worker in a shared counter: past that a call fails with
  ``retry_after`` set to the next minute (hour), before Graph throttles the tenant for everyone
  (feeds, messages, GDAP sync).
Act on Graph's ``error.code``, never its message.
"""

import hashlib
import json
import logging
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlencode

import orjson

from outbound.tokens import AccessTokens
from outbound.transport import TransportError, read_at_most
from outbound.urlguard import PlaceholderError, fill_tenant_id, same_origin

logger = logging.getLogger(__name__)

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
MAX_BODY_BYTES = 20 * 1024 * 1024
# Enough of an error answer to read Graph's error code from it.
MAX_ERROR_BODY_BYTES = 64 * 1024
MAX_PAGES = 1000


@dataclass(frozen=True)
class GraphConnection:
    base_url: str
    token_url: str
    tenant_id: str
    client_id: str
    client_secret: str = field(repr=False)

    def __post_init__(self):
        # A token URL with another placeholder is refused when the connection is built.
        self.resolved_token_url  # noqa: B018

    @property
    def resolved_token_url(self):
        try:
            return fill_tenant_id(self.token_url, self.tenant_id)
        except PlaceholderError:
            raise GraphError(
                "The only placeholder a token URL may hold is {tenant_id}.", permanent=True
            ) from None

    @property
    def token_cache_key(self):
        """Whose token it is: a new client secret must fetch a new one. A digest of the secret,
        so the secret itself is kept nowhere but here."""
        digest = hashlib.sha256(self.client_secret.encode()).hexdigest()
        return (self.resolved_token_url, self.client_id, digest)


class GraphError(Exception):
    """A Graph call failed. ``permanent`` means retrying will not help (needs an admin)."""

    def __init__(self, message, *, status=None, code="", permanent=False, retry_after=None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.permanent = permanent
        self.retry_after = retry_after


class GraphAuthError(GraphError):
    """401/403 or a refused token: missing consent, a missing role, or a wrong secret."""

    def __init__(self, message, **kwargs):
        kwargs.setdefault("permanent", True)
        super().__init__(message, **kwargs)


_token_cache = AccessTokens()


def clear_token_cache():
    _token_cache.clear()


def _error_code(excerpt, key="error"):
    """Graph's ``error.code`` (or the token endpoint's ``error``) from an error body."""
    try:
        payload = json.loads(excerpt)
    except ValueError:
        return ""
    if not isinstance(payload, dict):
        return ""
    error = payload.get(key)
    if isinstance(error, dict):
        return str(error.get("code", ""))
    return str(error or "")


def _graph_error(exc, subject):
    """A transport failure Graph's classification does not single out, as a GraphError."""
    return GraphError(
        exc.describe(subject),
        status=exc.status_code,
        permanent=not exc.retryable,
        retry_after=exc.retry_after,
    )


class GraphClient:
    """``transport``: an ``outbound.transport.Transport``. ``request_counter``: shared counts,
    or None to count nothing; its ``count([(key, keep_seconds, budget), …], requests)`` adds
    ``requests`` to the first key and to each next one as many as the one before took within
    its budget, stops at a key that took none, and returns the counts (None when they cannot
    be had). ``requests_per_minute`` and ``requests_per_hour`` are the budgets it counts
    against."""

    def __init__(
        self,
        connection,
        *,
        transport,
        request_counter=None,
        requests_per_minute=None,
        requests_per_hour=None,
        timeout=(5, 30),
        max_attempts=4,
        deadline_seconds=240,
        max_wait_seconds=60,
        sleep=time.sleep,
        clock=time.time,
    ):
        self.connection = connection
        self.transport = transport
        self.request_counter = request_counter
        self.requests_per_minute = requests_per_minute
        self.requests_per_hour = requests_per_hour
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.deadline = time.monotonic() + deadline_seconds
        self.max_wait_seconds = max_wait_seconds
        self.sleep = sleep
        self.clock = clock  # wall time: the request budget's minutes
        self.requests_made = 0
        # Requests already counted by reserve_requests, and the refusal of the next one.
        self._reserved, self._refusal = 0, None
        transport.guard.check(connection.base_url)

    # --- the tenant's request budget -------------------------------------------------------
    def reserve_requests(self, requests):
        """Count the next ``requests`` requests against the budgets now, in one round trip to
        the counter rather than one each (a feed poll knows it makes two). Those the budgets
        take are then sent uncounted; the first they do not take is refused when it is made,
        as if each had been counted in turn. A reserved request the caller never makes (its
        read failed first) stays counted."""
        granted, self._refusal = self._count_requests(requests)
        self._reserved += granted

    def _spend_request(self):
        """One request from a reservation, or counted now; refused past a budget."""
        if self._reserved:
            self._reserved -= 1
            return
        refusal, self._refusal = self._refusal, None
        if refusal is None:
            _granted, refusal = self._count_requests(1)
        if refusal is not None:
            raise refusal

    def _count_requests(self, requests):
        """Count ``requests`` requests against the tenant's minute and hour: ``(how many the
        budgets take, the GraphError refusing the next one or None)``. Each window counts the
        requests the one before it took (a request the minute refuses is not counted in the
        hour), as if they were counted one by one."""
        if self.request_counter is None:
            return requests, None
        now = self.clock()
        windows = []
        for name, seconds, budget in (
            ("minute", 60, self.requests_per_minute),
            ("hour", 3600, self.requests_per_hour),
        ):
            if budget:
                # The minute's key keeps its first form, without the window's name.
                window = "" if seconds == 60 else f"{name}:"
                key = f"graph-requests:{self.connection.tenant_id}:{window}{int(now // seconds)}"
                windows.append((name, seconds, budget, key))
        if not windows:
            return requests, None
        try:
            spent = self.request_counter.count(
                [(key, seconds * 2, budget) for _name, seconds, budget, key in windows], requests
            )
        except Exception:  # the counter is down: Graph's own throttling still applies
            logger.warning("Graph request budget unavailable; not counted", exc_info=True)
            return requests, None
        granted = requests
        for (name, seconds, budget, _key), count in zip(windows, spent or (), strict=False):
            taken = min(granted, max(0, budget - (count - granted)))
            if taken < granted:
                wait = seconds - now % seconds
                return taken, GraphError(
                    f"This tenant's Graph request budget ({budget} a {name}) is spent; "
                    f"trying again in {wait:.0f} s.",
                    retry_after=wait,
                )
            granted = taken
        return granted, None

    def _request(self, method, url, **kwargs):
        """One attempt through the transport, spent from the budget (or a reservation) and
        counted."""
        self._spend_request()
        try:
            response = self.transport.request(
                method, url, timeout=self.timeout, excerpt_bytes=MAX_ERROR_BODY_BYTES, **kwargs
            )
        except TransportError as exc:
            if exc.status_code is not None:
                self.requests_made += 1
            raise
        self.requests_made += 1
        return response

    # --- token -----------------------------------------------------------------------------
    def _token(self):
        key = self.connection.token_cache_key
        cached = _token_cache.get(key)
        if cached:
            return cached
        form = {
            "grant_type": "client_credentials",
            "client_id": self.connection.client_id,
            "client_secret": self.connection.client_secret,
            "scope": GRAPH_SCOPE,
        }
        try:
            response = self._request(
                "POST",
                self.connection.resolved_token_url,
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Accept": "application/json",
                },
                body=urlencode(form).encode(),
            )
        except TransportError as exc:
            status = exc.status_code
            if status is not None and 400 <= status < 500 and not exc.retryable:
                code = _error_code(exc.excerpt)
                raise GraphAuthError(
                    f"The token endpoint refused the app ({status} {code}): check "
                    "the client id, secret and tenant.",
                    status=status,
                    code=code,
                ) from None
            raise _graph_error(exc, "The token endpoint") from None
        payload = self._json(response, allow_error=True)
        if (
            response.status_code != 200
            or not isinstance(payload, dict)
            or "access_token" not in payload
        ):
            raise GraphError(
                f"Token endpoint answered {response.status_code}", status=response.status_code
            )
        _token_cache.put(key, payload["access_token"], payload.get("expires_in", 3600))
        return payload["access_token"]

    def _forget_token(self):
        _token_cache.forget(self.connection.token_cache_key)

    # --- requests --------------------------------------------------------------------------
    def _json(self, response, allow_error=False):
        try:
            body, more = read_at_most(response, MAX_BODY_BYTES)
        except TransportError as exc:
            raise _graph_error(exc, "Graph") from None
        if more:
            raise GraphError(f"Response larger than {MAX_BODY_BYTES} bytes; refused.")
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            if allow_error:
                return None
            content_type = response.headers.get("Content-Type", "?")
            raise GraphError(
                f"Response is not JSON (status {response.status_code}, {content_type}, "
                f"{len(body)} bytes)",
                status=response.status_code,
            ) from None

    def _backoff(self, attempt, retry_after=None):
        jitter = random.random()  # noqa: S311 - spreading retries, not cryptography
        wait = retry_after if retry_after is not None else min(30.0, 2**attempt + jitter)
        if wait > self.max_wait_seconds:
            raise GraphError(
                f"Graph asks to wait {wait:.0f} s; trying again later.", retry_after=wait
            )
        if time.monotonic() + wait > self.deadline:
            raise GraphError("Deadline reached while retrying.", retry_after=wait)
        self.sleep(wait)

    def get_json(self, url, params=None):
        """GET one URL (absolute, or a path under the base URL) and return its JSON object."""
        if not url.startswith(("http://", "https://")):
            url = self.connection.base_url.rstrip("/") + "/" + url.lstrip("/")
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            if time.monotonic() > self.deadline:
                raise GraphError("Deadline reached.")
            headers = {"Authorization": f"Bearer {self._token()}", "Accept": "application/json"}
            try:
                response = self._request("GET", url, params=params, headers=headers)
            except TransportError as exc:
                status = exc.status_code
                if status == 401 and not refreshed:
                    # The cached token may have been revoked early: fetch a new one once.
                    self._forget_token()
                    refreshed = True
                    attempt -= 1
                    continue
                self._raise_unless_retryable(exc)
                if attempt >= self.max_attempts:
                    if status is None:
                        raise _graph_error(exc, "Graph") from None
                    code = _error_code(exc.excerpt)
                    raise GraphError(
                        f"Graph answered {status} {code} {attempt} times.",
                        status=status,
                        code=code,
                        retry_after=exc.retry_after,
                    ) from None
                self._backoff(attempt, exc.retry_after)
                continue
            payload = self._json(response)
            if not isinstance(payload, dict):
                raise GraphError("Response JSON is not an object.", status=response.status_code)
            return payload

    def _raise_unless_retryable(self, exc):
        status = exc.status_code
        if status in (401, 403):
            code = _error_code(exc.excerpt)
            raise GraphAuthError(
                f"Graph refused access ({status} {code}): grant the app the required "
                "permission and admin consent in this tenant.",
                status=status,
                code=code,
            ) from None
        if exc.retryable:
            return
        if status is None or 300 <= status < 400:
            raise _graph_error(exc, "Graph") from None
        code = _error_code(exc.excerpt)
        raise GraphError(
            f"Graph answered {status} {code}", status=status, code=code, permanent=True
        ) from None

    def get_collection(self, path, params=None):
        """All items of a collection, following ``@odata.nextLink`` until it is absent."""
        seen = set()
        url, page_params = path, params
        for _page in range(MAX_PAGES):
            payload = self.get_json(url, page_params)
            items = payload.get("value")
            if not isinstance(items, list):
                raise GraphError("Collection response without a 'value' list.")
            yield from items
            next_link = payload.get("@odata.nextLink")
            if not next_link:
                return
            if not isinstance(next_link, str) or not same_origin(
                next_link, self.connection.base_url
            ):
                raise GraphError("@odata.nextLink points to another host; not followed.")
            if next_link in seen:
                raise GraphError("@odata.nextLink repeats a page; stopped.")
            # The transport checks the link against the URL guard before following it.
            seen.add(next_link)
            url, page_params = next_link, None
        raise GraphError(f"More than {MAX_PAGES} pages; stopped.")


def parse_datetime(value):
    """Graph's ISO 8601 timestamps (7 fractional digits, Z); None when absent or malformed."""
    if not isinstance(value, str) or not value:
        return None
    try:
        # Python 3.11 reads Graph's form as sent (the Z, seven digits cut to six): a feed poll
        # parses thousands of these.
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = _parse_datetime_loosely(value)
        if parsed is None:
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _parse_datetime_loosely(value):
    """What ``fromisoformat`` refuses, with the spaces around it removed and its fraction cut to
    six digits; None when still unreadable."""
    text = value.strip().replace("Z", "+00:00")
    if "." in text:
        head, _dot, rest = text.partition(".")
        digits = "".join(ch for ch in rest if ch.isdigit())
        zone = rest[len(digits) :]
        text = f"{head}.{digits[:6]}{zone}"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None
