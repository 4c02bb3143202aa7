"""Microsoft Entra ID simulator: the v2.0 token endpoint's refresh-token grant.

Route: ``POST /{tenant}/oauth2/v2.0/token`` with ``grant_type=refresh_token``. Each redemption
returns a new refresh token, and the old ones keep working unless revoked, as Entra ID does.
Tests script ``revoke(token)`` and ``expire_all()`` (``invalid_grant`` in the documented error
shape), faults with ``fail_next`` (429 with Retry-After, 500, raw bodies), and read
``requests`` (method, path, form) to assert on what the portal sent. Access tokens are opaque.
"""

import json
import threading
import uuid
from datetime import UTC, datetime
from urllib.parse import parse_qs

from simulators.scripting import FaultScript, HeldAnswers, as_bytes

REASONS = {
    200: "OK",
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
        self.access_tokens = {}  # token -> scope
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

    def release(self):
        self.held.release()

    # --- WSGI ------------------------------------------------------------------------------
    def __call__(self, environ, start_response):
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        form = {
            key: values[0]
            for key, values in parse_qs(environ["wsgi.input"].read(length).decode()).items()
        }
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
        if method == "POST" and path == f"/{self.tenant_id}/oauth2/v2.0/token":
            status, payload = self._token(form)
        else:
            status, payload = 404, error_body("invalid_request", 90002, "Tenant not found.")
        return self._respond(start_response, status, json.dumps(payload).encode())

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

    def _token(self, form):
        if form.get("grant_type") != "refresh_token":
            return 400, error_body(
                "unsupported_grant_type", 70003, "The app requested an unsupported grant type."
            )
        if form.get("client_id") != self.client_id:
            return 400, error_body(
                "unauthorized_client", 700016, "Application was not found in the directory."
            )
        if form.get("client_secret") != self.client_secret:
            return 401, error_body("invalid_client", 7000215, "Invalid client secret provided.")
        with self.lock:
            known = form.get("refresh_token") in self.refresh_tokens
            refusal = self.refresh_tokens.get(form.get("refresh_token"))
        if not known:
            return 400, error_body("invalid_grant", 9002313, "Invalid request. Malformed token.")
        if refusal is not None:
            return 400, error_body("invalid_grant", *refusal)
        access_token = f"sim-at-{uuid.uuid4().hex}"
        scope = form.get("scope", "")
        with self.lock:
            self.access_tokens[access_token] = scope
        return 200, {
            "token_type": "Bearer",
            "scope": " ".join(part for part in scope.split() if part != "offline_access"),
            "expires_in": self.access_token_lifetime,
            "ext_expires_in": self.access_token_lifetime,
            "access_token": access_token,
            "refresh_token": self.issue_refresh_token(),
        }
