"""Redeeming the partner's refresh token at Microsoft Entra ID's v2.0 token endpoint.

One call: ``redeem_refresh_token`` posts the refresh-token grant for one scope and returns the
access token, its lifetime and the new refresh token (every redemption returns one; the older
one keeps working until it expires or is revoked, so the newest is the one to keep). Failures
are classified once, for every caller:
- ``invalid_grant`` (the refresh token was revoked, expired, or its consent withdrawn):
  ``TokenRevoked``, permanent; a partner admin must consent again;
- other refusals (``invalid_client``: a wrong secret or client id; a URL the guard refuses):
  ``EntraError`` with ``retryable=False``;
- connection errors, timeouts, 408, 429 and 5xx, and answers that are not the documented JSON:
  ``EntraError`` with ``retryable=True`` and Microsoft's ``Retry-After`` when it sent one.
Act on the ``error`` code, never on the description. No token or secret is logged or put in an
error's text.
"""

import json
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlencode

from outbound.transport import TransportError, read_at_most

PARTNER_CENTER_SCOPE = "https://api.partnercenter.microsoft.com/user_impersonation offline_access"
GRAPH_SCOPE = "https://graph.microsoft.com/.default offline_access"
MAX_BODY_BYTES = 64 * 1024
# Enough of Microsoft's error description to tell an admin what happened.
DESCRIPTION_CHARS = 300


class EntraError(Exception):
    """A redemption failed. ``retryable`` says whether trying again later may succeed."""

    def __init__(self, message, *, retryable, code="", retry_after=None, status=None):
        super().__init__(message)
        self.retryable = retryable
        self.code = code
        self.retry_after = retry_after
        self.status = status


class TokenRevoked(EntraError):
    """The refresh token is revoked or expired (``invalid_grant``): only a new consent helps."""

    def __init__(self, message, **kwargs):
        super().__init__(message, retryable=False, **kwargs)


@dataclass(frozen=True)
class RedeemedTokens:
    access_token: str = field(repr=False)
    expires_in: int  # seconds
    refresh_token: str = field(repr=False)
    scope: str


def token_url(login_url, tenant_id):
    """``{login_url}/{tenant_id}/oauth2/v2.0/token``, joined, never formatted: the login URL is
    typed by an admin, so a brace in it is refused outright."""
    if "{" in login_url or "}" in login_url:
        raise EntraError("The login URL may not contain braces.", retryable=False)
    try:
        tenant = uuid.UUID(str(tenant_id))
    except ValueError:
        raise EntraError("The tenant id is not a GUID.", retryable=False) from None
    return f"{login_url.rstrip('/')}/{tenant}/oauth2/v2.0/token"


def _error_payload(excerpt):
    try:
        payload = json.loads(excerpt)
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


def _refusal(exc):
    """The EntraError for a transport failure, ``TokenRevoked`` for ``invalid_grant``."""
    if exc.status_code is None or exc.retryable:
        return EntraError(
            exc.describe("The Entra ID token endpoint"),
            retryable=exc.retryable,
            retry_after=exc.retry_after,
            status=exc.status_code,
        )
    payload = _error_payload(exc.excerpt)
    code = str(payload.get("error") or "")
    codes = payload.get("error_codes")
    aadsts = ", ".join(f"AADSTS{c}" for c in codes[:3]) if isinstance(codes, list) else ""
    description = str(payload.get("error_description") or "").splitlines()
    detail = description[0][:DESCRIPTION_CHARS] if description else aadsts
    kwargs = {"code": code, "status": exc.status_code}
    if code == "invalid_grant":
        return TokenRevoked(
            f"Entra ID refused the refresh token (invalid_grant: {detail}); a partner admin "
            "must sign in and consent again.",
            **kwargs,
        )
    return EntraError(
        f"Entra ID refused the request ({exc.status_code} {code}: {detail}); check the "
        "tenant id, client id and client secret.",
        retryable=False,
        **kwargs,
    )


def _tokens(response, scope):
    try:
        body, more = read_at_most(response, MAX_BODY_BYTES)
    except TransportError as exc:
        raise EntraError(exc.describe("Entra ID"), retryable=True) from None
    try:
        payload = json.loads(body) if not more else None
    except (ValueError, UnicodeDecodeError):
        payload = None
    if not isinstance(payload, dict) or not isinstance(payload.get("access_token"), str):
        raise EntraError("Entra ID answered without a readable token.", retryable=True)
    refresh_token = payload.get("refresh_token")
    if not isinstance(refresh_token, str) or not refresh_token:
        raise EntraError(
            "Entra ID returned no refresh token: the app needs the offline_access permission.",
            retryable=False,
        )
    try:
        # The v1 endpoint sends numbers as strings; v2 sends numbers.
        expires_in = int(payload.get("expires_in", 3600))
    except (TypeError, ValueError):
        expires_in = 3600
    return RedeemedTokens(
        access_token=payload["access_token"],
        expires_in=max(0, expires_in),
        refresh_token=refresh_token,
        scope=str(payload.get("scope") or scope),
    )


def redeem_refresh_token(
    transport, *, login_url, tenant_id, client_id, client_secret, refresh_token, scope
):
    """One refresh-token grant through ``transport`` (an ``outbound.transport.Transport``);
    returns ``RedeemedTokens`` or raises ``EntraError`` / ``TokenRevoked``."""
    url = token_url(login_url, tenant_id)
    form = {
        "client_id": client_id,
        "client_secret": client_secret,
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "scope": scope,
    }
    try:
        response = transport.request(
            "POST",
            url,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
            body=urlencode(form).encode(),
            excerpt_bytes=MAX_BODY_BYTES,
        )
    except TransportError as exc:
        raise _refusal(exc) from None
    return _tokens(response, scope)
