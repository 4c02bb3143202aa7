"""The Entra ID sign-in on allauth's ``openid_connect`` provider, with the checks it leaves out.

allauth skips the id_token's signature when it fetched the token itself and checks no nonce.
Here every id_token is checked against the tenant's JWKS, with issuer, audience, expiry, the
nonce sent with this sign-in and ``tid`` (the partner tenant only). A refusal raises
``SignInRefused``, which allauth hands to the social account adapter (``sso.adapters``): it is
audited there and shown to the person. No user is looked up before these checks pass.

``sso.urls_oidc`` serves these views on allauth's own paths, so its unchecked callback is never
reached.
"""

import jwt
from allauth.socialaccount.adapter import get_adapter
from allauth.socialaccount.helpers import render_authentication_error
from allauth.socialaccount.models import SocialApp
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from allauth.socialaccount.providers.oauth2.views import OAuth2CallbackView, OAuth2LoginView
from allauth.socialaccount.providers.openid_connect.provider import OpenIDConnectProvider
from allauth.socialaccount.providers.openid_connect.views import OpenIDConnectOAuth2Adapter
from django.http import Http404
from django.utils.crypto import get_random_string
from django.utils.translation import gettext as _

from outbound.urlguard import same_origin
from sso.models import SsoSettings

PROVIDER_ID = "entra"
# Nonces of sign-ins started in this session, by state id; a few at most (several tabs).
NONCES_SESSION_KEY = "sso_nonces"
MAX_PENDING_NONCES = 5
# Seconds of clock difference between Entra ID and the portal that expiry checks forgive.
CLOCK_LEEWAY = 60


class SignInRefused(OAuth2Error):
    """An id_token (or a callback) the portal does not accept. ``reason`` is a short code for
    the audit log; str() is the message shown to the person."""

    def __init__(self, reason, message):
        super().__init__(message)
        self.reason = reason


def remember_nonce(session, state_id, nonce):
    pending = dict(session.get(NONCES_SESSION_KEY, {}))
    pending[state_id] = nonce
    session[NONCES_SESSION_KEY] = dict(list(pending.items())[-MAX_PENDING_NONCES:])


def take_nonce(session, state_id):
    """The nonce sent with the sign-in ``state_id`` started, once; None if there is none."""
    pending = dict(session.get(NONCES_SESSION_KEY, {}))
    nonce = pending.pop(state_id or "", None)
    session[NONCES_SESSION_KEY] = pending
    return nonce


def _decode(id_token, key, *, audience):
    """The claims, signature, audience and expiry checked, or SignInRefused saying which check
    failed. The issuer is checked by the caller, after the tenant: a token from another tenant
    has that tenant's issuer, and "another tenant" is the clearer answer."""
    try:
        return jwt.decode(
            id_token,
            key=key,
            algorithms=["RS256"],
            audience=audience,
            leeway=CLOCK_LEEWAY,
            options={
                "require": ["exp", "iat", "iss", "aud", "tid", "oid", "nonce"],
                "verify_iss": False,
            },
        )
    except jwt.ExpiredSignatureError:
        raise SignInRefused("expired", _("The sign-in token has expired.")) from None
    except jwt.InvalidAudienceError:
        raise SignInRefused(
            "wrong_audience", _("The sign-in token was issued for another application.")
        ) from None
    except jwt.InvalidSignatureError:
        raise SignInRefused(
            "bad_signature", _("The sign-in token's signature is not the tenant's.")
        ) from None
    except jwt.PyJWTError as exc:
        raise SignInRefused(
            "invalid_token", _("The sign-in token is not valid: %(error)s") % {"error": exc}
        ) from None


class EntraOAuth2Adapter(OpenIDConnectOAuth2Adapter):
    # Where the discovery document may send the browser, the client secret and key requests.
    ENDPOINTS = ("authorization_endpoint", "token_endpoint", "jwks_uri")

    @property
    def openid_config(self):
        """The tenant's discovery document, refused when an endpoint leaves the login host:
        the client secret is posted to its token endpoint, and was given for that host only."""
        config = super().openid_config
        login_url = SsoSettings.get().login_url
        for name in self.ENDPOINTS:
            if not same_origin(str(config.get(name) or ""), login_url):
                raise SignInRefused(
                    "foreign_endpoint",
                    _("The tenant's discovery document points outside the login host."),
                )
        return config

    def _signing_key(self, id_token):
        try:
            kid = jwt.get_unverified_header(id_token).get("kid")
        except jwt.PyJWTError:
            raise SignInRefused("invalid_token", _("The sign-in token is malformed.")) from None
        with get_adapter().get_requests_session() as session:
            response = session.get(self.openid_config["jwks_uri"])
            response.raise_for_status()
            keys = response.json().get("keys", [])
        for key in keys:
            if key.get("kid") == kid:
                return jwt.PyJWK(key).key
        raise SignInRefused(
            "bad_signature",
            _("The sign-in token was signed with a key the tenant does not publish."),
        )

    def _decode_id_token(self, app, id_token):
        settings = SsoSettings.get()
        issuer = settings.authority
        if self.openid_config.get("issuer") != issuer:
            raise SignInRefused(
                "wrong_issuer", _("The tenant's discovery document names another issuer.")
            )
        claims = _decode(id_token, self._signing_key(id_token), audience=app.client_id)
        if claims["tid"] != str(settings.tenant_id):
            raise SignInRefused(
                "foreign_tenant", _("The account belongs to another Microsoft Entra tenant.")
            )
        if claims["iss"] != issuer:
            raise SignInRefused(
                "wrong_issuer", _("The sign-in token was issued by another authority.")
            )
        expected_nonce = take_nonce(self.request.session, self.request.GET.get("state"))
        if not expected_nonce or claims["nonce"] != expected_nonce:
            raise SignInRefused(
                "replayed_nonce", _("The sign-in token was not issued for this sign-in.")
            )
        return claims


class EntraProvider(OpenIDConnectProvider):
    """allauth's OpenID Connect provider, with a nonce on every sign-in and the checks above."""

    oauth2_adapter_class = EntraOAuth2Adapter

    def redirect(self, request, process, next_url=None, data=None, **kwargs):
        nonce = get_random_string(32)
        state_id = get_adapter().generate_state_param({})
        remember_nonce(request.session, state_id, nonce)
        auth_params = kwargs.pop("auth_params", None)
        auth_params = self.get_auth_params() if auth_params is None else auth_params
        auth_params["nonce"] = nonce
        try:
            return super().redirect(
                request,
                process,
                next_url,
                data,
                auth_params=auth_params,
                state_id=state_id,
                **kwargs,
            )
        except SignInRefused as exc:
            # The discovery document was refused before the browser was sent anywhere.
            return render_authentication_error(request, self, exception=exc)

    def verify_token(self, request, token):
        # Tokens handed over by an app (allauth's headless API) carry no nonce of this portal's.
        raise get_adapter().validation_error("invalid_token")


def _adapter_view(view_class, request, provider_id):
    try:
        return view_class.adapter_view(EntraOAuth2Adapter(request, provider_id))(request)
    except SocialApp.DoesNotExist:
        raise Http404 from None


def login(request, provider_id):
    return _adapter_view(OAuth2LoginView, request, provider_id)


def callback(request, provider_id):
    return _adapter_view(OAuth2CallbackView, request, provider_id)
