"""The channel interface, and the HTTP base that owns timeouts and error classification.

``send(delivery)`` returns a ``SendResult`` with the channel's reference, or raises
``ChannelError``: ``permanent=True`` stops retrying and flags the channel for an admin; otherwise
the delivery is retried with backoff (``retry_after`` if the channel said how long to wait).
"""

import hashlib
import hmac
import json
import time
from dataclasses import dataclass

import requests

from core.graph import parse_retry_after
from core.urlguard import UnsafeURL, check_outbound_url, thread_session

TIMEOUT = (5, 15)


@dataclass
class SendResult:
    reference: str
    status_code: int | None = None
    # True when the channel needs the agent to act (the manual channel).
    needs_agent: bool = False


class ChannelError(Exception):
    def __init__(self, message, *, permanent=False, retry_after=None, status_code=None):
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after
        self.status_code = status_code


class Channel:
    """One kind of support channel. Subclasses implement ``send``."""

    def __init__(self, channel):
        self.channel = channel

    def send(self, delivery):
        raise NotImplementedError

    def fetch_status(self, service_request):
        """``(status, [notes])`` from the channel, or None if it cannot tell (most cannot)."""
        return None


def sign(secret, body, timestamp=None):
    """``X-Portal-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">``."""
    timestamp = int(timestamp if timestamp is not None else time.time())
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class HttpChannel(Channel):
    """Owns HTTP: the outbound URL check, timeouts, no redirects, and what each status means."""

    def request(self, method, url, *, json_body=None, headers=None):
        try:
            check_outbound_url(url)
        except UnsafeURL as exc:
            raise ChannelError(f"Refused to connect: {exc}", permanent=True) from None
        body = json.dumps(json_body, default=str).encode() if json_body is not None else None
        headers = {"Accept": "application/json", **(headers or {})}
        if body is not None:
            headers["Content-Type"] = "application/json"
            headers.update(self.extra_headers(body))
        try:
            response = thread_session().request(
                method, url, data=body, headers=headers, timeout=TIMEOUT, allow_redirects=False
            )
        except requests.Timeout:
            raise ChannelError("The channel did not answer in time.") from None
        except requests.RequestException as exc:
            raise ChannelError(f"The channel is unreachable ({type(exc).__name__}).") from None
        return self.classify(response)

    def extra_headers(self, body):
        return {}

    def classify(self, response):
        status = response.status_code
        if 200 <= status < 300:
            return response
        snippet = response.text[:200]
        if status == 429 or status >= 500:
            raise ChannelError(
                f"The channel answered {status}: {snippet}",
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
                status_code=status,
            )
        if 300 <= status < 400:
            raise ChannelError(
                f"The channel redirected ({status}); redirects are not followed.",
                permanent=True,
                status_code=status,
            )
        raise ChannelError(
            f"The channel refused the request ({status}): {snippet}",
            permanent=True,
            status_code=status,
        )
