"""The settings page's "test sign-in": a Global admin signs in with Entra ID and sees the
claims the portal received and the roles they map to, without signing in as anyone.

It is allauth's ``redirect`` process with a mark in its state; the id_token passes every check
a real sign-in does (``sso.oidc``), then ``sso.adapters`` stores the outcome here instead of
admitting anyone.
"""

from allauth.socialaccount.providers.base import AuthProcess
from django.urls import reverse

from accounts.services import is_global_admin
from core import audit
from sso.models import SsoSettings
from sso.services import audited_claims

STATE_KEY = "sso_test"
SESSION_KEY = "sso_test_result"


def start(request, provider):
    """Send the Global admin to Entra ID for a test sign-in."""
    return provider.redirect(
        request, AuthProcess.REDIRECT, next_url=reverse("sso:test_result"), **{STATE_KEY: True}
    )


def is_test(request, state):
    """A test sign-in started by ``start``, come back to the Global admin who started it."""
    user = request.user
    return bool(state.get(STATE_KEY)) and user.is_authenticated and is_global_admin(user)


def store(request, *, claims=None, refusal=None):
    settings = SsoSettings.get()
    roles = [role.value for role in settings.roles_for(claims)] if claims else []
    request.session[SESSION_KEY] = {"claims": claims or {}, "roles": roles, "refusal": refusal}
    audit.record(
        actor=request.user,
        action="sso_sign_in.tested",
        target=settings,
        after={"roles": roles, "refusal": refusal, **audited_claims(claims or {})},
        request=request,
    )


def result(request):
    """The last test's ``{"claims", "roles", "refusal"}``, or None."""
    return request.session.get(SESSION_KEY)
