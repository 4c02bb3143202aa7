"""The partner's tokens from Microsoft Entra ID's v2.0 endpoints.

``authorize_url`` is where a partner admin signs in to consent (authorization code with PKCE);
``redeem_authorization_code`` turns the code into the first refresh token, and
``redeem_refresh_token`` posts the refresh-token grant for one scope and one tenant (the
partner's, or a customer's reached through GDAP). Each returns the access token, its lifetime
and a new refresh token (every redemption returns one; the older one keeps working until it
expires or is revoked, so the newest is the one to keep). Failures are classified once, for
every caller:
- ``invalid_grant`` (the refresh token was revoked, expired, or its consent withdrawn):
  ``TokenRevoked``, permanent; a partner admin must consent again;
- other refusals (``invalid_client``: a wrong secret or client id; a URL the guard refuses):
  ``EntraError`` with ``retryable=False``;
- connection errors, timeouts, 408, 429 and 5xx, and answers that are not the documented JSON:
  ``EntraError`` with ``retryable=True`` and Microsoft's ``Retry-After`` when it sent one.
Act on the ``error`` code, never on the description. No token or secret is logged or put in an
error's text.
"""

import base64
import hashlib
import json
import secrets
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlencode

from outbound.transport import TransportError, read_at_most

PARTNER_CENTER_SCOPE = "https://api.partnercenter.microsoft.com/user_impersonation offline_access"
GRAPH_SCOPE = "https://graph.microsoft.com/.default offline_access"
MAX_BODY_BYTES = 64 * 1024
# Enough of Microsoft's error description to tell an admin what happened.
DESCRIPTION_CHARS = 300
# AADSTS codes that say the refresh token itself is dead (revoked, expired, its grant withdrawn),
# as opposed to a tenant that refuses it (no GDAP relationship, no consent there).
DEAD_REFRESH_TOKEN_CODES = frozenset({70000, 70008, 700082, 50173, 70043, 9002313})


class EntraError(Exception):
    """A redemption failed. ``retryable`` says whether trying again later may succeed."""

    def __init__(self, message, *, retryable, code="", retry_after=None, status=None, aadsts=()):
        super().__init__(message)
        self.retryable = retryable
        self.code = code
        self.retry_after = retry_after
        self.status = status
        self.aadsts = tuple(aadsts)  # Entra ID's numeric error codes, when it sent them

    @property
    def refresh_token_dead(self):
        """Whether only a new consent helps (rather than access in one tenant)."""
        return self.code == "invalid_grant" and (
            not self.aadsts or bool(DEAD_REFRESH_TOKEN_CODES & set(self.aadsts))
        )


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


def endpoint_url(login_url, tenant_id, endpoint="token"):
    """``{login_url}/{tenant_id}/oauth2/v2.0/{endpoint}``, joined, never formatted: the login
    URL is typed by an admin, so a brace in it is refused outright."""
    if "{" in login_url or "}" in login_url:
        raise EntraError("The login URL may not contain braces.", retryable=False)
    try:
        tenant = uuid.UUID(str(tenant_id))
    except ValueError:
        raise EntraError("The tenant id is not a GUID.", retryable=False) from None
    return f"{login_url.rstrip('/')}/{tenant}/oauth2/v2.0/{endpoint}"


def token_url(login_url, tenant_id):
    return endpoint_url(login_url, tenant_id, "token")


@dataclass(frozen=True)
class Pkce:
    """A PKCE pair: the verifier stays with the portal, the S256 challenge goes to Entra ID."""

    verifier: str = field(repr=False)
    challenge: str

    @classmethod
    def new(cls):
        verifier = secrets.token_urlsafe(64)
        digest = hashlib.sha256(verifier.encode()).digest()
        return cls(verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode())


def authorize_url(*, login_url, tenant_id, client_id, redirect_uri, scope, state, challenge):
    """Where the partner admin signs in and consents: the authorization-code flow with PKCE."""
    query = urlencode(
        {
            "client_id": client_id,
            "response_type": "code",
            "redirect_uri": redirect_uri,
            "response_mode": "query",
            "scope": scope,
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "prompt": "consent",
        }
    )
    return f"{endpoint_url(login_url, tenant_id, 'authorize')}?{query}"


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
    codes = [c for c in codes[:3] if isinstance(c, int)] if isinstance(codes, list) else []
    aadsts = ", ".join(f"AADSTS{c}" for c in codes)
    description = str(payload.get("error_description") or "").splitlines()
    detail = description[0][:DESCRIPTION_CHARS] if description else aadsts
    kwargs = {"code": code, "status": exc.status_code, "aadsts": codes}
    if code == "invalid_grant" and (not codes or DEAD_REFRESH_TOKEN_CODES & set(codes)):
        return TokenRevoked(
            f"Entra ID refused the refresh token (invalid_grant: {detail}); a partner admin "
            "must sign in and consent again.",
            **kwargs,
        )
    if code == "invalid_grant":
        return EntraError(
            f"Entra ID refused access to this tenant ({detail}): the partner needs a GDAP "
            "relationship with the roles this feature needs, or the app's consent there.",
            retryable=False,
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
    form = {
        "client_id": client_id,
        "client_secret": client_secret,
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "scope": scope,
    }
    return _grant(transport, token_url(login_url, tenant_id), form, scope)


def redeem_authorization_code(
    transport,
    *,
    login_url,
    tenant_id,
    client_id,
    client_secret,
    code,
    redirect_uri,
    code_verifier,
    scope,
):
    """The authorization-code grant that ends a partner admin's consent."""
    form = {
        "client_id": client_id,
        "client_secret": client_secret,
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": code_verifier,
        "scope": scope,
    }
    return _grant(transport, token_url(login_url, tenant_id), form, scope)


def _grant(transport, url, form, scope):
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
