"""The sign-in half of the Entra ID simulator: signing keys, the tenant's discovery document and
JWKS, the directory of people who sign in, and the id_tokens it issues (RS256, v2.0 claims).

``BAD_ID_TOKENS`` are the tokens a test asks for with ``EntraSimulator.bad_id_token``: from
another tenant, for another app, from another issuer, expired, signed by a key the tenant does
not publish, or carrying the nonce of an earlier sign-in.
"""

import json
import re
import time
import uuid

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

BAD_ID_TOKENS = (
    "foreign_tenant",
    "wrong_audience",
    "wrong_issuer",
    "expired",
    "foreign_key",
    "replayed_nonce",
)
ID_TOKEN_LIFETIME = 3600
DISCOVERY_ROUTE = re.compile(r"^/([^/]+)/v2\.0/\.well-known/openid-configuration$")
KEYS_ROUTE = re.compile(r"^/([^/]+)/discovery/v2\.0/keys$")
USER_ROUTE = re.compile(r"^/v1\.0/users/([^/]+)$")


def _new_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class OidcIssuer:
    """Keys, people and id_tokens of one tenant (``EntraSimulator`` owns one)."""

    def __init__(self, tenant_id, client_id):
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.kid = uuid.uuid4().hex[:27]
        self.key = _new_key()
        # Same kid, other key: a token signed with it fails the signature check, not the lookup.
        self.foreign_key = _new_key()
        self.users = {}  # oid -> claims of the person (email, name, roles, groups, enabled)
        self.signed_in = None  # the oid the authorize endpoint signs in
        self.nonces = []  # every nonce seen, for "replayed_nonce"

    def add_user(self, email, *, roles=(), groups=(), name=None, oid=None, enabled=True):
        oid = oid or str(uuid.uuid4())
        self.users[oid] = {
            "oid": oid,
            "email": email,
            "name": name or email.split("@")[0],
            "roles": list(roles),
            "groups": list(groups),
            "enabled": enabled,
        }
        if self.signed_in is None:
            self.signed_in = oid
        return self.users[oid]

    def issuer(self, base_url, tenant_id=None):
        return f"{base_url}/{tenant_id or self.tenant_id}/v2.0"

    def discovery(self, base_url, tenant_id):
        """The tenant's v2.0 discovery document, in Entra ID's shape."""
        root = f"{base_url}/{tenant_id}"
        return {
            "token_endpoint": f"{root}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
            "jwks_uri": f"{root}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": self.issuer(base_url, tenant_id),
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
            "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
            "end_session_endpoint": f"{root}/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "tid", "ver"],
            "tenant_region_scope": "WW",
            "cloud_instance_name": "microsoftonline.com",
        }

    def jwks(self):
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**public, "kid": self.kid, "use": "sig", "kty": "RSA"}]}

    def id_token(self, base_url, oid, nonce, mode=None):
        """A signed v2.0 id_token for the person ``oid``; ``mode`` one of BAD_ID_TOKENS."""
        person = self.users[oid]
        now = int(time.time())
        tenant = str(uuid.uuid4()) if mode == "foreign_tenant" else self.tenant_id
        if mode == "replayed_nonce" and self.nonces:
            nonce = self.nonces[0]
        self.nonces.append(nonce)
        claims = {
            "ver": "2.0",
            "iss": self.issuer(base_url, tenant),
            "sub": f"sub-{oid}",
            "aud": str(uuid.uuid4()) if mode == "wrong_audience" else self.client_id,
            "exp": now + ID_TOKEN_LIFETIME,
            "iat": now,
            "nbf": now,
            "name": person["name"],
            "preferred_username": person["email"],
            "email": person["email"],
            "oid": oid,
            "tid": tenant,
            "nonce": nonce,
        }
        if mode == "wrong_issuer":
            claims["iss"] = f"https://sts.windows.net/{self.tenant_id}/"
        if mode == "expired":
            claims.update(iat=now - 2 * ID_TOKEN_LIFETIME, nbf=now - 2 * ID_TOKEN_LIFETIME)
            claims["exp"] = now - ID_TOKEN_LIFETIME
        if person["roles"]:
            claims["roles"] = person["roles"]
        if person["groups"]:
            claims["groups"] = person["groups"]
        key = self.foreign_key if mode == "foreign_key" else self.key
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": self.kid})

    def directory_user(self, oid):
        """Graph's ``users/{id}`` answer for ``oid``, or None (removed or never there)."""
        person = self.users.get(oid)
        if person is None:
            return None
        return {
            "id": oid,
            "accountEnabled": person["enabled"],
            "displayName": person["name"],
            "userPrincipalName": person["email"],
        }
