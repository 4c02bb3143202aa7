"""The channel interface, and the HTTP base that sends through the portal's one transport.

``send(delivery)`` returns a ``SendResult`` with the channel's reference, or raises
``ChannelError``: ``permanent=True`` stops retrying and flags the channel for an admin; otherwise
the delivery is retried with backoff (``retry_after`` if the channel said how long to wait).
``needs_connection=True`` (permanent too): the partner's Microsoft connection is missing or was
refused; the delivery waits, visibly, and is sent again once Microsoft is connected.
"""

import json
from dataclasses import dataclass

from core.outbound import transport
from outbound.transport import TransportError

TIMEOUT = (5, 15)


@dataclass
class SendResult:
    reference: str
    status_code: int | None = None
    # True when the channel needs the agent to act (the manual channel).
    needs_agent: bool = False


class ChannelError(Exception):
    def __init__(
        self,
        message,
        *,
        permanent=False,
        retry_after=None,
        status_code=None,
        needs_connection=False,
    ):
        super().__init__(message)
        self.permanent = permanent or needs_connection
        self.needs_connection = needs_connection
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


class HttpChannel(Channel):
    """HTTP through the portal's one transport (URL guard, timeouts, no redirects, what each
    status means), its failures as ChannelErrors."""

    def request(self, method, url, *, json_body=None, headers=None):
        body = json.dumps(json_body, default=str).encode() if json_body is not None else None
        headers = {"Accept": "application/json", **(headers or {})}
        if body is not None:
            headers["Content-Type"] = "application/json"
            headers.update(self.extra_headers(body))
        try:
            return transport().request(method, url, headers=headers, body=body, timeout=TIMEOUT)
        except TransportError as exc:
            raise ChannelError(
                exc.describe("The channel", excerpt_chars=200),
                permanent=not exc.retryable,
                retry_after=exc.retry_after,
                status_code=exc.status_code,
            ) from None

    def extra_headers(self, body):
        return {}
