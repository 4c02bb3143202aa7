"""Who may call the service-health simulator: its own client-credentials token endpoint, the
tokens the Entra ID simulator redeems in a customer tenant (GDAP), and the refusals tests script."""

import uuid
from datetime import timedelta
from urllib.parse import parse_qs

from simulators.service_health.errors import graph_error, identity_error

ANNOUNCEMENT = "/v1.0/admin/serviceAnnouncement"
TOKEN_LIFETIME = 3599


class TenantAccess:
    """A mixin of ``ServiceHealthSimulator``: it holds ``tenants``, ``lock``, ``entra``,
    ``refusals``, ``_tokens``, ``_token_tenants`` and ``now()``."""

    def revoke_tokens(self, tenant_id=None):
        with self.lock:
            for token, (owner, _expires) in list(self._tokens.items()):
                if tenant_id is None or owner == str(tenant_id):
                    del self._tokens[token]

    def refuse_tenant(
        self,
        tenant_id,
        code="Authorization_RequestDenied",
        message="Insufficient privileges to complete the operation.",
        under="",
    ):
        """Answer 403 with Graph's ``code`` to ``tenant_id``'s calls under ``under`` (a path
        below the service announcement, e.g. "messages"; "" for every one): a partner user
        without the GDAP role, or an app without the permission."""
        with self.lock:
            self.refusals.setdefault(str(tenant_id), []).append((under, code, message))

    def admit_tenant(self, tenant_id):
        """Take back every ``refuse_tenant`` of ``tenant_id``."""
        with self.lock:
            self.refusals.pop(str(tenant_id), None)

    def _token(self, environ, tenant_id):
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        form = parse_qs(environ["wsgi.input"].read(length).decode(errors="replace"))
        given = {key: values[0] for key, values in form.items()}
        with self.lock:
            tenant = self.tenants.get(tenant_id)
        if tenant is None:
            raise identity_error(
                400,
                "invalid_request",
                90002,
                f"Tenant '{tenant_id}' not found. Check to make sure you have the correct "
                "tenant ID and are signing into the correct cloud.",
            )
        if given.get("grant_type") != "client_credentials":
            raise identity_error(
                400,
                "unsupported_grant_type",
                70003,
                "The app requested an unsupported grant type.",
            )
        if given.get("client_id") != tenant.client_id:
            raise identity_error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{given.get('client_id', '')}' was not found in "
                f"the directory '{tenant_id}'.",
            )
        if given.get("client_secret") != tenant.client_secret:
            raise identity_error(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is "
                f"the client secret value, not the client secret ID, for a secret added to app "
                f"'{tenant.client_id}'.",
            )
        if not given.get("scope", "").endswith("/.default"):
            raise identity_error(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {given.get('scope', '')} is not valid. Client "
                "credential flows must have a scope value with /.default suffixed to the "
                "resource identifier (application ID URI).",
            )
        token = f"sim-sh-{uuid.uuid4().hex}"
        with self.lock:
            self._tokens[token] = (tenant_id, self.now() + timedelta(seconds=TOKEN_LIFETIME))
            self._token_tenants[token] = tenant_id
        return (
            200,
            {
                "token_type": "Bearer",
                "expires_in": TOKEN_LIFETIME,
                "ext_expires_in": TOKEN_LIFETIME,
                "access_token": token,
            },
            {},
        )

    def _refuse_if_scripted(self, tenant, path):
        below = path[len(ANNOUNCEMENT) + 1 :]
        with self.lock:
            refusals = list(self.refusals.get(tenant.tenant_id, ()))
        for under, code, message in refusals:
            if below.startswith(under):
                raise graph_error(403, code, message)

    def _entra_owner(self, token):
        """(tenant id, expiry) of a Graph token the Entra simulator minted, else None."""
        info = self.entra.token_info(token) if self.entra is not None and token else None
        if info is None or "graph.microsoft.com" not in info[1]:
            return None
        with self.lock:
            self._token_tenants[token] = info[0]
            known = info[0] in self.tenants
        # Entra's tokens live as long as Entra says; revoked ones are its to forget.
        return (info[0], self.now() + timedelta(seconds=TOKEN_LIFETIME)) if known else None

    def _authorise(self, headers):
        auth = headers.get("Authorization", "")
        token = auth[7:].strip() if auth.startswith("Bearer ") else ""
        with self.lock:
            owner = self._tokens.get(token)
        if owner is None:
            owner = self._entra_owner(token)
        challenge = {"WWW-Authenticate": 'Bearer realm="", authorization_uri="", client_id=""'}
        if not token:
            error = graph_error(401, "InvalidAuthenticationToken", "Access token is empty.")
            error.headers = challenge
            raise error
        if owner is None:
            error = graph_error(
                401, "InvalidAuthenticationToken", "Access token validation failure."
            )
            error.headers = challenge
            raise error
        tenant_id, expires = owner
        if expires <= self.now():
            error = graph_error(
                401,
                "InvalidAuthenticationToken",
                "Lifetime validation failed, the token is expired.",
            )
            error.headers = challenge
            raise error
        tenant = self.tenants[tenant_id]
        if not tenant.consented:
            raise graph_error(
                403, "Forbidden", "Caller does not have access to the requested resource."
            )
        return tenant
