"""The one HTTP client for everything the portal calls: Graph, support channels, webhooks, PSAs.

``Transport.request`` makes one attempt and classifies it once, for every caller:
- 2xx: the response is returned, its body not read yet (the caller reads it, capped if it asks);
- connection errors, timeouts, 408, 429 and 5xx: ``TransportError`` with ``retryable=True`` and
  ``retry_after`` from the ``Retry-After`` header (seconds, fractional, or an HTTP date);
- a URL the ``UrlGuard`` refuses, 3xx (redirects are never followed) and any other 4xx:
  ``TransportError`` with ``retryable=False``; only a host that did not resolve may be retried.
The caller decides when (and whether) to try again: an outbox row, or Graph's deadline loop.

Connections go through the guard's pinned session, one per thread and kept alive, so a second
call to a host reuses its connection (and TLS handshake). Each attempt is logged on one line:
method, scheme://host/path without the query string, status, duration and outcome; never a
header or a body, which may hold tokens and signatures.
"""

import email.utils
import logging
import threading
import time
from datetime import UTC, datetime
from urllib.parse import urlsplit

import requests
from requests.cookies import extract_cookies_to_jar
from requests.structures import CaseInsensitiveDict

from outbound.urlguard import UnresolvableHost, UnsafeURL

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = (5, 15)  # connect, read (seconds)
EXCERPT_BYTES = 500
RETRYABLE_STATUSES = frozenset({408, 429})


def parse_retry_after(value, now=None):
    """Seconds to wait from a Retry-After header: a number (maybe fractional) or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def is_retryable_status(status):
    return status in RETRYABLE_STATUSES or 500 <= status < 600


def loggable_url(url):
    """scheme://host[:port]/path: no query string, no credentials."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
        host = parts.hostname or ""
    except ValueError:
        return "(unparsable URL)"
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}{port}{parts.path}"


class TransportError(Exception):
    """One attempt failed. ``retryable`` says whether trying again later may succeed."""

    # What went wrong, for ``describe``.
    REFUSED = "refused"  # the URL guard refused the URL; ``detail`` says why
    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"  # ``detail`` names the exception
    STATUS = "status"  # an answer that is not 2xx

    def __init__(
        self,
        message,
        *,
        reason,
        detail="",
        status_code=None,
        retry_after=None,
        retryable=False,
        excerpt="",
    ):
        super().__init__(message)
        self.reason = reason
        self.detail = detail
        self.status_code = status_code
        self.retry_after = retry_after
        self.retryable = retryable
        self.excerpt = excerpt

    def describe(self, subject, excerpt_chars=0):
        """The failure as a sentence about ``subject`` ("The channel", "Graph"), with up to
        ``excerpt_chars`` of the answer's body."""
        status = self.status_code
        if self.reason == self.REFUSED:
            return f"Refused to connect: {self.detail}"
        if self.reason == self.TIMEOUT:
            return f"{subject} did not answer in time."
        if self.reason == self.UNREACHABLE:
            return f"{subject} is unreachable ({self.detail})."
        if 300 <= status < 400:
            return f"{subject} redirected ({status}); redirects are not followed."
        if self.retryable:
            text = f"{subject} answered {status}"
        else:
            text = f"{subject} refused the request ({status})"
        snippet = self.excerpt[:excerpt_chars]
        return f"{text}: {snippet}" if snippet else f"{text}."


def read_at_most(response, limit):
    """``(the first limit bytes of the body, whether there was more)``; the response is closed
    after, so an endless or huge body costs no more than ``limit``."""
    chunks, size = [], 0
    try:
        for chunk in response.iter_content(min(limit, 64 * 1024) or 1):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                break
    except requests.RequestException as exc:
        raise TransportError(
            f"The answer broke off ({type(exc).__name__}).",
            reason=TransportError.UNREACHABLE,
            detail=type(exc).__name__,
            retryable=True,
        ) from None
    finally:
        response.close()
    body = b"".join(chunks)
    return body[:limit], size > limit


def read_excerpt(response, limit=EXCERPT_BYTES):
    """The start of the body as text, for a log or an admin; empty if it cannot be read."""
    try:
        body, _more = read_at_most(response, limit)
    except TransportError:
        return ""
    return body.decode("utf-8", errors="replace")


class Transport:
    """HTTP through one ``UrlGuard``: its check before each attempt, its pinned, kept-alive
    sessions (one per thread: requests sessions are not thread-safe) for the connection."""

    def __init__(self, guard, *, timeout=DEFAULT_TIMEOUT):
        self.guard = guard
        self.timeout = timeout
        self._local = threading.local()

    def session(self):
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = self.guard.session()
        return session

    def request(
        self,
        method,
        url,
        *,
        headers=None,
        body=None,
        params=None,
        timeout=None,
        excerpt_bytes=EXCERPT_BYTES,
    ):
        """One attempt. Returns the response on 2xx; raises TransportError otherwise, with the
        first ``excerpt_bytes`` of the answer's body."""
        attempt = _Attempt(method, url)
        try:
            self.guard.check(url)
        except UnsafeURL as exc:
            retryable = isinstance(exc, UnresolvableHost)
            attempt.log("-", "retry" if retryable else "refused")
            raise TransportError(
                f"Refused to connect: {exc}",
                reason=TransportError.REFUSED,
                detail=str(exc),
                retryable=retryable,
            ) from None
        try:
            response = self._send(method, url, headers, body, params, timeout or self.timeout)
        except requests.Timeout:
            attempt.log("timeout", "retry")
            raise TransportError(
                "No answer in time.", reason=TransportError.TIMEOUT, retryable=True
            ) from None
        except requests.RequestException as exc:
            name = type(exc).__name__
            attempt.log(name, "retry")
            raise TransportError(
                f"Unreachable ({name}).",
                reason=TransportError.UNREACHABLE,
                detail=name,
                retryable=True,
            ) from None
        status = response.status_code
        if 200 <= status < 300:
            attempt.log(status, "ok")
            return response
        retryable = is_retryable_status(status)
        attempt.log(status, "retry" if retryable else "permanent")
        raise TransportError(
            f"Answered {status}.",
            reason=TransportError.STATUS,
            status_code=status,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
            retryable=retryable,
            excerpt=read_excerpt(response, excerpt_bytes),
        )

    def _send(self, method, url, headers, body, params, timeout):
        """What ``Session.request`` does with redirects off and the body streamed, for this
        transport's sessions, whose settings are fixed (no environment, auth or hooks): the
        request is prepared with the session's headers and cookies and sent by the session's
        (guarded) adapter. Merging every session setting for each call cost about a quarter of
        a kept-alive request's CPU. A cookie a host sets is kept, as the session kept it."""
        session = self.session()
        merged = CaseInsensitiveDict(session.headers)
        merged.update(headers or {})
        prepared = requests.PreparedRequest()
        prepared.prepare(
            method=method,
            url=url,
            headers={name: value for name, value in merged.items() if value is not None},
            data=body,
            params=params,
            cookies=session.cookies,
        )
        response = session.get_adapter(prepared.url).send(
            prepared,
            stream=True,
            timeout=timeout,
            verify=session.verify,
            cert=session.cert,
            proxies=session.proxies,
        )
        if "Set-Cookie" in response.headers:
            extract_cookies_to_jar(session.cookies, prepared, response.raw)
        return response


class _Attempt:
    def __init__(self, method, url):
        self.method = method
        self.url = url
        self.started = time.monotonic()

    def log(self, status, outcome):
        """One line per attempt, also as ``extra`` fields for a structured log handler."""
        level = logging.INFO if outcome == "ok" else logging.WARNING
        if not logger.isEnabledFor(level):
            return
        fields = {
            "method": self.method,
            "url": loggable_url(self.url),
            "status": status,
            "duration_ms": int((time.monotonic() - self.started) * 1000),
            "outcome": outcome,
        }
        logger.log(
            level,
            "outbound %(method)s %(url)s status=%(status)s duration_ms=%(duration_ms)s "
            "outcome=%(outcome)s",
            fields,
            extra={"outbound": fields},
        )
