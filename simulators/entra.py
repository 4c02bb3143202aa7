"""Microsoft Entra ID simulator: the v2.0 authorize and token endpoints a partner's consent uses.

Routes:
  GET  /{tenant}/oauth2/v2.0/authorize   the partner admin's sign-in: redirects straight back to
                                         ``redirect_uri`` with a code (``consent_refusal`` scripts
                                         an ``error`` instead); PKCE S256 is required
  POST /{tenant}/oauth2/v2.0/token       ``authorization_code`` (checks the PKCE verifier and the
                                         redirect URI; with ``openid`` in the scope it adds a
                                         signed ``id_token``) and ``refresh_token`` grants
  GET  /{tenant}/v2.0/.well-known/openid-configuration, /{tenant}/discovery/v2.0/keys
                                         the tenant's discovery document and JWKS

Staff sign-in (simulators.entra_oidc): ``add_user(email, roles=…, groups=…)`` adds a person;
the authorize endpoint signs in the first one added, or the one ``sign_in_as(user)`` names;
``bad_id_token`` (one of ``BAD_ID_TOKENS``) makes the next id_token a bad one.

The partner tenant and every customer tenant added with ``add_customer_tenant`` answer the token
route: the partner's refresh token redeemed against a customer tenant is how GDAP access works.
Each redemption returns a new refresh token, and the old ones keep working unless revoked, as
Entra ID does. Tests script ``revoke(token)`` and ``expire_all()`` (``invalid_grant`` in the
documented error shape), a customer tenant's refusal, faults with ``fail_next`` (429 with
Retry-After, 500, raw bodies), and read ``requests`` (method, path, form) to assert on what the
portal sent. Access tokens are opaque; other simulators ask ``token_info`` whose they are.
"""

import base64
import hashlib
import json
import re
import threading
import uuid
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlencode

from simulators.entra_oidc import BAD_ID_TOKENS, DISCOVERY_ROUTE, KEYS_ROUTE, OidcIssuer
from simulators.scripting import FaultScript, HeldAnswers, as_bytes

__all__ = ["BAD_ID_TOKENS", "EntraSimulator"]

TENANT_ROUTE = re.compile(r"^/([^/]+)/oauth2/v2\.0/(authorize|token)$")
REASONS = {
    200: "OK",
    302: "Found",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
REVOKED = (70000, "The provided authorization code or refresh token has been revoked.")
EXPIRED = (
    700082,
    "The refresh token has expired due to inactivity. The token was issued on a date and was "
    "inactive for 90 days.",
)


def error_body(error, code, description):
    """Entra ID's token error shape: error, error_description with trace lines, error_codes."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    trace_id, correlation_id = str(uuid.uuid4()), str(uuid.uuid4())
    return {
        "error": error,
        "error_description": f"AADSTS{code}: {description}\r\nTrace ID: {trace_id}\r\n"
        f"Correlation ID: {correlation_id}\r\nTimestamp: {now}",
        "error_codes": [code],
        "timestamp": now,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
    }


class EntraSimulator(FaultScript):
    """One tenant with one confidential client; ``issue_refresh_token()`` stands in for the
    consent that gives the first refresh token."""

    def __init__(self, *, tenant_id, client_id, client_secret, access_token_lifetime=3599):
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.client_secret = client_secret
        self.access_token_lifetime = access_token_lifetime
        self.refresh_tokens = {}  # token -> None (valid) or (AADSTS code, description)
        self.access_tokens = {}  # token -> (tenant id, scope)
        # Customer tenants the partner reaches through GDAP: tenant -> None or a refusal.
        self.customer_tenants = {}
        # authorization code -> (redirect_uri, code_challenge, scope, nonce, signed-in oid)
        self.codes = {}
        self.oidc = OidcIssuer(tenant_id, client_id)
        # One of BAD_ID_TOKENS: the next id_token issued is that bad one.
        self.bad_id_token = None
        # An ``error`` and description the next sign-ins answer with instead of a code.
        self.consent_refusal = None
        self.faults = []
        self.requests = []  # (method, path, form)
        self.lock = threading.Lock()
        self.held = HeldAnswers()
        # Where the simulator is served (its login URL); set once serving.
        self.base_url = "http://127.0.0.1"

    # --- scripting -------------------------------------------------------------------------
    def issue_refresh_token(self, token=None):
        """A valid refresh token: a new one, or ``token`` (a demo's stored one) accepted."""
        token = token or f"sim-rt-{uuid.uuid4().hex}"
        with self.lock:
            self.refresh_tokens[token] = None
        return token

    def revoke(self, token):
        with self.lock:
            self.refresh_tokens[token] = REVOKED

    def expire_all(self):
        with self.lock:
            for token in self.refresh_tokens:
                self.refresh_tokens[token] = EXPIRED

    def add_customer_tenant(self, tenant_id, refusal=None):
        """Admit redemptions against ``tenant_id``; ``refusal`` (AADSTS code, description)
        refuses them as Entra ID does for a tenant without GDAP access or consent."""
        with self.lock:
            self.customer_tenants[str(tenant_id)] = refusal

    def add_user(self, email, **person):
        """A person who can sign in (``roles``, ``groups``, ``name``, ``oid``, ``enabled``)."""
        with self.lock:
            return self.oidc.add_user(email, **person)

    def sign_in_as(self, user):
        with self.lock:
            self.oidc.signed_in = user["oid"]

    def set_enabled(self, user, enabled):
        with self.lock:
            self.oidc.users[user["oid"]]["enabled"] = enabled

    def remove_user(self, user):
        with self.lock:
            self.oidc.users.pop(user["oid"], None)

    def token_info(self, access_token):
        """(tenant id, scope) of an access token this simulator issued, else None."""
        with self.lock:
            return self.access_tokens.get(access_token)

    def release(self):
        self.held.release()

    # --- WSGI ------------------------------------------------------------------------------
    def __call__(self, environ, start_response):
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length).decode()
        if method == "GET":
            raw = environ.get("QUERY_STRING", "")
        form = {key: values[0] for key, values in parse_qs(raw).items()}
        with self.lock:
            self.requests.append((method, path, form))
        fault = self._take_fault(path)
        if fault is not None:
            self.held.sleep(fault.delay)
            if fault.body is not None or fault.status != 200:
                body = as_bytes(fault.body)
                if body is None:
                    body = json.dumps(
                        error_body("temporarily_unavailable", 90033, f"Simulated {fault.status}.")
                    ).encode()
                return self._respond(start_response, fault.status, body, dict(fault.headers))
        if method == "GET" and (metadata := self._metadata(path)) is not None:
            return self._respond(start_response, *metadata)
        route = TENANT_ROUTE.match(path)
        tenant, endpoint = route.groups() if route else (None, None)
        with self.lock:
            known = tenant == self.tenant_id or tenant in self.customer_tenants
        if not known:
            status, payload = 404, error_body("invalid_request", 90002, "Tenant not found.")
        elif method == "GET" and endpoint == "authorize" and tenant == self.tenant_id:
            return self._authorize(start_response, form)
        elif method == "POST" and endpoint == "token":
            status, payload = self._token(tenant, form)
        else:
            status, payload = 405, error_body("invalid_request", 900561, "Method not allowed.")
        return self._respond(start_response, status, json.dumps(payload).encode())

    def _metadata(self, path):
        """(status, body) for the discovery document or the keys, else None."""
        for route, answer in ((DISCOVERY_ROUTE, "discovery"), (KEYS_ROUTE, "keys")):
            match = route.match(path)
            if match is None:
                continue
            if match.group(1) != self.tenant_id:
                return 400, json.dumps(
                    error_body("invalid_tenant", 90002, "Tenant not found.")
                ).encode()
            body = (
                self.oidc.discovery(self.base_url, self.tenant_id)
                if answer == "discovery"
                else self.oidc.jwks()
            )
            return 200, json.dumps(body).encode()
        return None

    def _authorize(self, start_response, query):
        """The partner admin signs in and consents at once; the answer goes back to the
        redirect URI as Entra ID sends it (``code`` and ``state``, or ``error``)."""
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") != self.client_id or not redirect_uri:
            body = json.dumps(
                error_body("unauthorized_client", 700016, "Application was not found.")
            ).encode()
            return self._respond(start_response, 400, body)
        answer = {"state": query.get("state", "")}
        if self.consent_refusal is not None:
            answer.update(error=self.consent_refusal[0], error_description=self.consent_refusal[1])
        elif query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            answer.update(
                error="invalid_request",
                error_description="AADSTS501491: Proof Key for Code Exchange is required.",
            )
        else:
            code = f"sim-code-{uuid.uuid4().hex}"
            with self.lock:
                self.codes[code] = (
                    redirect_uri,
                    query["code_challenge"],
                    query.get("scope", ""),
                    query.get("nonce", ""),
                    self.oidc.signed_in,
                )
            answer["code"] = code
        location = f"{redirect_uri}{'&' if '?' in redirect_uri else '?'}{urlencode(answer)}"
        return self._respond(start_response, 302, b"", {"Location": location})

    def _respond(self, start_response, status, body, headers=None):
        headers = headers or {}
        content_type = headers.pop("Content-Type", "application/json; charset=utf-8")
        start_response(
            f"{status} {REASONS.get(status, 'Status')}",
            [
                ("Content-Type", content_type),
                ("Content-Length", str(len(body))),
                ("Cache-Control", "no-store, no-cache"),
                *headers.items(),
            ],
        )
        return [body]

    def _token(self, tenant, form):
        grant_type = form.get("grant_type")
        if grant_type not in ("refresh_token", "authorization_code"):
            return 400, error_body(
                "unsupported_grant_type", 70003, "The app requested an unsupported grant type."
            )
        if form.get("client_id") != self.client_id:
            return 400, error_body(
                "unauthorized_client", 700016, "Application was not found in the directory."
            )
        if form.get("client_secret") != self.client_secret:
            return 401, error_body("invalid_client", 7000215, "Invalid client secret provided.")
        id_token = None
        if grant_type == "authorization_code":
            refusal, id_token = self._redeem_code(form)
        else:
            with self.lock:
                known = form.get("refresh_token") in self.refresh_tokens
                refusal = self.refresh_tokens.get(form.get("refresh_token"))
                if refusal is None and tenant != self.tenant_id:
                    refusal = self.customer_tenants.get(tenant)
            if not known:
                refusal = (9002313, "Invalid request. Malformed token.")
        if refusal is not None:
            return 400, error_body("invalid_grant", *refusal)
        access_token = f"sim-at-{uuid.uuid4().hex}"
        scope = form.get("scope", "")
        with self.lock:
            self.access_tokens[access_token] = (tenant, scope)
        answer = {
            "token_type": "Bearer",
            "scope": " ".join(part for part in scope.split() if part != "offline_access"),
            "expires_in": self.access_token_lifetime,
            "ext_expires_in": self.access_token_lifetime,
            "access_token": access_token,
            "refresh_token": self.issue_refresh_token(),
        }
        if id_token:
            answer["id_token"] = id_token
        return 200, answer

    def _redeem_code(self, form):
        """(refusal, id_token): refusal None when the code is good for this redirect URI and
        PKCE verifier; an id_token when the sign-in asked for ``openid``. A code is good once."""
        with self.lock:
            issued = self.codes.pop(form.get("code", ""), None)
        if issued is None:
            return (
                70008,
                "The provided authorization code has expired or was already redeemed.",
            ), None
        redirect_uri, challenge, scope, nonce, oid = issued
        if form.get("redirect_uri") != redirect_uri:
            return (50148, "The redirect URI does not match the one the code was issued for."), None
        verifier = form.get("code_verifier", "").encode()
        expected = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=")
        if expected.decode() != challenge:
            return (501481, "The Code_Verifier does not match the code_challenge supplied."), None
        if "openid" not in scope.split() or oid is None:
            return None, None
        with self.lock:
            mode, self.bad_id_token = self.bad_id_token, None
            return None, self.oidc.id_token(self.base_url, oid, nonce, mode)
