"""Sending one webhook delivery: sign its body with Standard Webhooks and POST it.

``integrations.delivery`` is the outbox around this: it decides when to call ``send`` and records
what it returned.
"""

import json

import requests
from django.utils import timezone
from django.utils.translation import gettext as _

from core.outbound import transport
from integrations.models import WebhookAuthChoices
from outbound import signing
from outbound.transport import TransportError, read_excerpt

TIMEOUT = (5, 15)
RESPONSE_EXCERPT_BYTES = 500
USER_AGENT = "PartnerSupportPortal-Webhooks/1"


class SendFailed(Exception):
    """The transport's ``failure`` in the receiver's words. ``permanent``: trying again cannot
    help (a refused URL, a redirect, a 4xx but 408 and 429); ``gone``: the receiver answered 410
    and wants no more events."""

    def __init__(self, message, failure):
        super().__init__(message)
        self.status_code = failure.status_code
        self.retry_after = failure.retry_after
        self.gone = failure.status_code == 410
        self.permanent = not failure.retryable
        self.excerpt = failure.excerpt


def body_bytes(delivery):
    # Compact and stable: the signature covers exactly these bytes.
    return json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()


def signed_headers(subscription, message_id, body, now=None):
    """Standard Webhooks headers; two signatures while a rotated secret is in its grace."""
    now = now or timezone.now()
    headers = {
        **signing.sign_headers(subscription.signing_secrets(now), message_id, body, now),
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


def send(subscription, message_id, body):
    """POST one signed body. Returns ``(status, excerpt)`` on 2xx; raises SendFailed otherwise."""
    headers = signed_headers(subscription, message_id, body)
    try:
        response = transport().request(
            "POST",
            subscription.target_url,
            headers=headers,
            body=body,
            timeout=TIMEOUT,
            excerpt_bytes=RESPONSE_EXCERPT_BYTES,
        )
    except TransportError as exc:
        if exc.status_code == 410:
            message = _("The receiver answered 410 Gone: it no longer wants these events.")
        else:
            message = exc.describe("The receiver")
        raise SendFailed(message, exc) from None
    # Read only the start: a receiver answering with megabytes costs us nothing.
    return response.status_code, read_excerpt(response, RESPONSE_EXCERPT_BYTES)
