"""Session timeouts: idle (``SESSION_IDLE_TIMEOUT_MINUTES``) and absolute (``SESSION_COOKIE_AGE``),
and, with ``MFA_REQUIRED``, enrolment of a second factor before anything else.

Django's own expiry slides with every save of the session, so the sign-in time and the last
activity are kept in the session and checked here on every request that carries one. API clients
authenticate with a token and have no session: nothing here applies to them.
"""

import time
from urllib.parse import urlsplit

from allauth.usersessions.models import UserSession
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import JsonResponse
from django.shortcuts import redirect, resolve_url
from django.urls import Resolver404, resolve
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.mfa import has_authenticator, is_signed_in_person, mfa_by_identity_provider
from core.redirects import safe_next_url

SIGNED_IN_AT = "portal_signed_in_at"
LAST_ACTIVITY = "portal_last_activity"
# Activity is written to the session at most this often, so a busy user does not cost a session
# write per request; the idle timeout is therefore measured to the minute.
ACTIVITY_RESOLUTION_SECONDS = 60
# A page's own background refresh is not someone at the keyboard: a service-health dashboard left
# open must not keep an unattended session alive.
BACKGROUND_URL_NAMES = frozenset({"servicehealth:status", "customers:import_status"})


def start_session_clock(session, now=None):
    """Called at sign-in: the absolute lifetime counts from here."""
    session[SIGNED_IN_AT] = int(now if now is not None else time.time())
    session.pop(LAST_ACTIVITY, None)


def duration_text(seconds):
    """'12 hours', '90 minutes': how the limits are shown to people."""
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return ngettext("%(count)d hour", "%(count)d hours", hours) % {"count": hours}
    minutes = max(seconds // 60, 1)
    return ngettext("%(count)d minute", "%(count)d minutes", minutes) % {"count": minutes}


def session_limits_text():
    idle = settings.SESSION_IDLE_TIMEOUT_MINUTES
    return _(
        "A session ends after %(idle)s without activity and %(maximum)s after signing in, "
        "whichever comes first."
    ) % {
        # In minutes, as the sign-out message says it.
        "idle": ngettext("%(count)d minute", "%(count)d minutes", idle) % {"count": idle},
        "maximum": duration_text(settings.SESSION_COOKIE_AGE),
    }


def _is_background(request):
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return False
    return match.view_name in BACKGROUND_URL_NAMES


def _next_url(request):
    """Where to come back to after signing in again: this page, or for a form post its page."""
    if request.method in ("GET", "HEAD"):
        candidate = request.get_full_path()
    else:
        candidate = request.headers.get("Referer", "")
    candidate = safe_next_url(request, candidate, None)
    if candidate is None:
        return None
    parts = urlsplit(candidate)
    if parts.path == resolve_url(settings.LOGIN_URL):
        return None
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


class SessionTimeoutMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            response = self._check(request)
            if response is not None:
                return response
        return self.get_response(request)

    def _check(self, request):
        session = request.session
        now = int(time.time())
        signed_in_at = session.get(SIGNED_IN_AT)
        if not isinstance(signed_in_at, int):
            # A session from before these timeouts were recorded: its clock starts now.
            start_session_clock(session, now)
            signed_in_at = now
        last_activity = session.get(LAST_ACTIVITY, signed_in_at)
        if now - signed_in_at >= settings.SESSION_COOKIE_AGE:
            return self._expire(
                request,
                _("You were signed out because your session reached its maximum length (%(age)s).")
                % {"age": duration_text(settings.SESSION_COOKIE_AGE)},
            )
        idle_minutes = settings.SESSION_IDLE_TIMEOUT_MINUTES
        if now - last_activity >= idle_minutes * 60:
            return self._expire(
                request,
                ngettext(
                    "You were signed out after %(minutes)d minute without activity.",
                    "You were signed out after %(minutes)d minutes without activity.",
                    idle_minutes,
                )
                % {"minutes": idle_minutes},
            )
        due = LAST_ACTIVITY not in session or now - last_activity >= ACTIVITY_RESOLUTION_SECONDS
        if due and not _is_background(request):
            session[LAST_ACTIVITY] = now
            # The sessions page's "last seen" and address, refreshed on the same minute.
            UserSession.objects.create_from_request(request, user=request.user, session=session)
        return None

    def _expire(self, request, message):
        next_url = _next_url(request)
        UserSession.objects.filter(session_key=request.session.session_key).delete()
        logout(request)
        if request.path.startswith("/api/"):
            # A browser's call to the API goes on unauthenticated and gets the API's 401/403.
            return None
        messages.warning(request, message)
        if _is_background(request):
            # Not a redirect the page's script would follow (and so read the message on a
            # login page nobody sees): the message waits for the person's next page.
            return JsonResponse({"detail": message}, status=401)
        if next_url:
            return redirect_to_login(next_url)
        return redirect(settings.LOGIN_URL)


# What a person who must still set up their second factor may reach: the enrolment page itself
# (and allauth's overview it falls back to), re-authentication (asked for after a few minutes),
# signing out, the language switch and the health check.
ENROLMENT_URL_NAMES = frozenset(
    {
        "mfa_activate_totp",
        "mfa_index",
        "account_reauthenticate",
        "mfa_reauthenticate",
        "account_logout",
        "set_language",
        "core:healthz",
    }
)
# Set on the request for the templates: the navigation is hidden and the enrolment page explains.
ENROLMENT_PENDING_ATTRIBUTE = "mfa_enrolment_pending"


def _enrolment_reachable(request):
    static_prefix = "/" + settings.STATIC_URL.lstrip("/")
    if request.path_info.startswith(static_prefix):
        return True
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return False
    return match.view_name in ENROLMENT_URL_NAMES


def enrolment_pending(request):
    """This signed-in person must set up a second factor before using the portal."""
    return getattr(request, ENROLMENT_PENDING_ATTRIBUTE, False)


class MfaEnrolmentMiddleware:
    """With ``MFA_REQUIRED``, a signed-in person without an authenticator reaches only enrolment,
    unless their identity provider enforced MFA at this sign-in (accounts.mfa).

    People only: API clients authenticate with a token, which the API checks after this, and
    carry no session, so ``request.user`` is anonymous here for them.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if (
            settings.MFA_REQUIRED
            and is_signed_in_person(user)
            and not has_authenticator(user)
            and not mfa_by_identity_provider(request, user)
        ):
            setattr(request, ENROLMENT_PENDING_ATTRIBUTE, True)
            if not _enrolment_reachable(request):
                return self._refuse(request)
        return self.get_response(request)

    def _refuse(self, request):
        message = _(
            "Set up two-factor authentication first: the portal requires an authenticator app "
            "for every account."
        )
        if request.path_info.startswith("/api/"):
            # The API's error shape; a browser's script gets a reason, not a redirect to follow.
            return JsonResponse(
                {
                    "type": "client_error",
                    "errors": [{"code": "mfa_enrolment_required", "detail": message, "attr": None}],
                },
                status=403,
            )
        return redirect("mfa_activate_totp")
