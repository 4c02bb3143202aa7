"""Security events from django-allauth: changes go to the audit log, sign-ins to the log."""

import logging

from allauth.account import signals as account_signals
from allauth.mfa import signals as mfa_signals
from django.contrib.auth import signals as auth_signals
from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver

from accounts import token_cache  # noqa: F401 - connects the receivers that revoke cached grants
from accounts.middleware import start_session_clock
from core import audit

logger = logging.getLogger("accounts.security")


def _client_ip(request):
    return audit.client_ip(request) or "-"


@receiver(account_signals.user_logged_in)
def log_sign_in(request, user, **kwargs):
    logger.info("sign-in succeeded user=%s ip=%s", user.pk, _client_ip(request))


@receiver(auth_signals.user_logged_in)
def start_session_timeouts(request, user, **kwargs):
    # Django's signal, not allauth's: every way in (allauth, Django's admin, tests) starts the
    # absolute lifetime at the moment the new session id is issued.
    if request is not None and hasattr(request, "session"):
        start_session_clock(request.session)


@receiver(user_login_failed)
def log_failed_sign_in(credentials, request=None, **kwargs):
    # Never log the password; the login name is what an investigator needs.
    login = credentials.get("email") or credentials.get("username") or "-"
    logger.warning("sign-in failed login=%s ip=%s", login, _client_ip(request))


@receiver(mfa_signals.authentication_failed)
def log_failed_second_factor(request, user, authenticator, reauthentication, **kwargs):
    # A wrong code and a replayed one look the same here; never log the code.
    logger.warning(
        "second factor failed user=%s ip=%s step=%s",
        user.pk,
        _client_ip(request),
        "re-authentication" if reauthentication else "sign-in",
    )


def _record(action):
    def handler(request, user, **kwargs):
        audit.record(actor=user, action=action, target=user, request=request)

    return handler


_PASSWORD_EVENTS = {
    account_signals.password_changed: "staff.password_changed",
    account_signals.password_set: "staff.password_set",
    account_signals.password_reset: "staff.password_reset",
}
for _signal, _action in _PASSWORD_EVENTS.items():
    _signal.connect(_record(_action), weak=False, dispatch_uid=_action)


@receiver(mfa_signals.authenticator_added)
def audit_authenticator_added(request, user, authenticator, **kwargs):
    added = {"authenticator": authenticator.type}
    audit.record_change(user, "staff.mfa_added", user, None, added, request)


@receiver(mfa_signals.authenticator_removed)
def audit_authenticator_removed(request, user, authenticator, **kwargs):
    removed = {"authenticator": authenticator.type}
    audit.record_change(user, "staff.mfa_removed", user, removed, None, request)
