"""allauth's adapters for sign-in with Entra ID: the app comes from ``SsoSettings`` (the secret
decrypted only here, never from allauth's plain-text ``SocialApp`` table), every connection goes
through the portal's URL guard, and each sign-in is admitted or refused by ``sso.services``."""

import functools
import time

from allauth.account import app_settings as account_settings
from allauth.account.authentication import get_authentication_records
from allauth.core import context
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount import app_settings as socialaccount_settings
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.models import SocialApp
from allauth.socialaccount.providers.base import AuthError, AuthProcess
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from accounts.adapters import StaffAccountAdapter
from core.outbound import url_guard
from sso import services, testing
from sso.models import SsoSettings
from sso.oidc import PROVIDER_ID, SignInRefused

OPENID_CONNECT = "openid_connect"


def entra_app(settings):
    """The allauth app for the partner tenant, built from the settings row."""
    return SocialApp(
        provider=OPENID_CONNECT,
        provider_id=PROVIDER_ID,
        name="Microsoft",
        client_id=settings.client_id,
        secret=settings.client_secret,
        settings={
            "server_url": settings.authority,
            "oauth_pkce_enabled": True,
            # The id_token has every claim used; Entra's userinfo lives on Graph.
            "fetch_userinfo": False,
            "uid_field": "oid",
            "token_auth_method": "client_secret_post",
            "scope": ["openid", "profile", "email"],
        },
    )


def _callback_failure(request, error, exception, extra_context):
    """(reason, message) for a sign-in that failed before an id_token was accepted."""
    if isinstance(exception, SignInRefused):
        return exception.reason, str(exception)
    if exception is None and "state" not in extra_context and "state_id" in extra_context:
        return "replayed_state", _(
            "This sign-in was already used or has expired. Start again from the sign-in page."
        )
    if exception is None:
        return "entra_error", _("Microsoft Entra ID did not sign you in: %(error)s") % {
            "error": request.GET.get("error_description") or request.GET.get("error") or error
        }
    return "token_error", _("The sign-in could not be completed with Microsoft Entra ID.")


class SsoSocialAccountAdapter(DefaultSocialAccountAdapter):
    def list_apps(self, request, provider=None, client_id=None):
        settings = SsoSettings.get()
        if not settings.configured or provider not in (None, PROVIDER_ID, OPENID_CONNECT):
            return []
        if client_id and client_id != settings.client_id:
            return []
        return [entra_app(settings)]

    def get_requests_session(self):
        # Discovery, keys and the token endpoint, all on an admin-typed login URL.
        session = url_guard().session()
        session.request = functools.partial(
            session.request, timeout=socialaccount_settings.REQUESTS_TIMEOUT
        )
        return session

    def is_open_for_signup(self, request, sociallogin):
        # ``pre_social_login`` has created or found the account of everyone it lets through.
        return False

    def pre_social_login(self, request, sociallogin):
        state = sociallogin.state
        claims = sociallogin.account.extra_data.get("id_token") or {}
        if testing.is_test(request, state):
            testing.store(request, claims=claims)
            raise ImmediateHttpResponse(redirect("sso:test_result"))
        try:
            if state.get("process") != AuthProcess.LOGIN:
                raise services.Refused("process", _("This sign-in cannot be used here."))
            services.admit(request, sociallogin, SsoSettings.get())
        except services.Refused as refusal:
            services.record_refusal(request, refusal.reason, str(refusal), claims)
            raise ImmediateHttpResponse(_refused_page(request, str(refusal))) from None

    def on_authentication_error(
        self, request, provider, error=None, exception=None, extra_context=None
    ):
        extra_context = extra_context or {}
        if error == AuthError.CANCELLED:
            return
        reason, message = _callback_failure(request, error, exception, extra_context)
        state = extra_context.get("state") or {}
        if testing.is_test(request, state):
            testing.store(request, refusal=message)
            raise ImmediateHttpResponse(redirect("sso:test_result"))
        services.record_refusal(request, reason, message)
        raise ImmediateHttpResponse(_refused_page(request, message))


def _refused_page(request, message):
    return render(request, "sso/refused.html", {"message": message}, status=403)


def _entra_sign_in_at(request):
    """When this session last signed in with Entra ID (a time.time()), or None."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    times = [
        record["at"]
        for record in get_authentication_records(request, user)
        if (record.get("method"), record.get("provider")) == ("socialaccount", PROVIDER_ID)
    ]
    return max(times, default=None)


class PortalAccountAdapter(StaffAccountAdapter):
    """Staff sign-in as in ``accounts``, with portal passwords refused when a Global admin
    has turned them off for sign-in with Microsoft, and a fresh Entra sign-in accepted where
    allauth asks to confirm access: staff who sign in with Microsoft may have no password."""

    def is_reauthentication_required(self, *, app, **kwargs):
        signed_in_at = _entra_sign_in_at(context.request)
        timeout = account_settings.REAUTHENTICATION_TIMEOUT
        if signed_in_at is not None and time.time() - signed_in_at < timeout:
            return False
        return super().is_reauthentication_required(app=app, **kwargs)

    def get_reauthentication_methods(self, user):
        methods = super().get_reauthentication_methods(user)
        linked = user.is_authenticated and user.socialaccount_set.filter(provider=PROVIDER_ID)
        if linked and linked.exists() and SsoSettings.get().enabled:
            methods.append(
                {
                    "id": "entra",
                    "description": _("Sign in with Microsoft again"),
                    "url": reverse("openid_connect_login", kwargs={"provider_id": PROVIDER_ID}),
                }
            )
        return methods

    def pre_authenticate(self, request, **credentials):
        if not SsoSettings.get().passwords_allowed:
            raise ValidationError(
                _("Signing in with a portal password is turned off: sign in with Microsoft.")
            )
        super().pre_authenticate(request, **credentials)
