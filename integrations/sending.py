"""Sending one webhook delivery: sign its body with Standard Webhooks and POST it.

``integrations.delivery`` is the outbox around this: it decides when to call ``send`` and records
what it returned.
"""

import json

import requests
from django.utils import timezone
from django.utils.translation import gettext as _
from standardwebhooks.webhooks import Webhook

from core.graph import parse_retry_after
from core.urlguard import UnsafeURL, check_outbound_url, thread_session
from integrations.models import WebhookAuthChoices

TIMEOUT = (5, 15)
RESPONSE_EXCERPT_BYTES = 500
USER_AGENT = "PartnerSupportPortal-Webhooks/1"


class SendFailed(Exception):
    def __init__(self, message, *, status_code=None, retry_after=None, gone=False, excerpt=""):
        super().__init__(message)
        self.status_code = status_code
        self.retry_after = retry_after
        self.gone = gone
        self.excerpt = excerpt


def body_bytes(delivery):
    # Compact and stable: the signature covers exactly these bytes.
    return json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()


def signed_headers(subscription, message_id, body, now=None):
    """Standard Webhooks headers; two signatures while a rotated secret is in its grace."""
    now = now or timezone.now()
    signatures = [
        Webhook(secret).sign(message_id, now, body.decode())
        for secret in subscription.signing_secrets(now)
    ]
    headers = {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": " ".join(signatures),
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
    }
    if subscription.auth_type == WebhookAuthChoices.BEARER:
        headers["Authorization"] = f"Bearer {subscription.auth_secret}"
    elif subscription.auth_type == WebhookAuthChoices.BASIC:
        headers["Authorization"] = requests.auth._basic_auth_str(
            subscription.auth_username, subscription.auth_secret
        )
    return headers


def _excerpt(response):
    # Read only the start: a receiver answering with megabytes costs us nothing.
    try:
        raw = next(response.iter_content(RESPONSE_EXCERPT_BYTES), b"")
    except requests.RequestException:
        raw = b""
    finally:
        response.close()
    return raw[:RESPONSE_EXCERPT_BYTES].decode("utf-8", errors="replace")


def send(subscription, message_id, body):
    """POST one signed body. Returns ``(status, excerpt)`` on 2xx; raises SendFailed otherwise."""
    try:
        check_outbound_url(subscription.target_url)
    except UnsafeURL as exc:
        raise SendFailed(f"Refused to connect: {exc}") from None
    headers = signed_headers(subscription, message_id, body)
    try:
        response = thread_session().post(
            subscription.target_url,
            data=body,
            headers=headers,
            timeout=TIMEOUT,
            allow_redirects=False,
            stream=True,
        )
    except requests.Timeout:
        raise SendFailed("The receiver did not answer in time.") from None
    except requests.RequestException as exc:
        raise SendFailed(f"The receiver is unreachable ({type(exc).__name__}).") from None
    status = response.status_code
    excerpt = _excerpt(response)
    if 200 <= status < 300:
        return status, excerpt
    if status == 410:
        raise SendFailed(
            _("The receiver answered 410 Gone: it no longer wants these events."),
            status_code=status,
            gone=True,
            excerpt=excerpt,
        )
    if 300 <= status < 400:
        message = f"The receiver redirected ({status}); redirects are not followed."
    else:
        message = f"The receiver answered {status}."
    raise SendFailed(
        message,
        status_code=status,
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
        excerpt=excerpt,
    )
