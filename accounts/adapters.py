from types import SimpleNamespace
from urllib.parse import quote, urlsplit

from allauth.account import app_settings as account_settings
from allauth.account.adapter import DefaultAccountAdapter
from allauth.core import context
from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.usersessions.adapter import DefaultUserSessionsAdapter
from django.conf import settings
from django.urls import reverse

from accounts import services
from core import crypto
from core.events import absolute_url


def portal_site():
    """What allauth's emails call ``current_site``: the portal's name and configured address.

    Without django.contrib.sites allauth takes both from the request's Host header, which the
    sender of the request chooses.
    """
    return SimpleNamespace(
        name=settings.MFA_TOTP_ISSUER, domain=urlsplit(settings.PORTAL_BASE_URL).netloc
    )


class StaffAccountAdapter(DefaultAccountAdapter):
    """Staff are invited by an administrator; nobody signs themselves up.

    Links in allauth's emails are built on ``PORTAL_BASE_URL``, never the request's Host: a
    password reset asked for with a forged Host would otherwise mail a link to that host.
    """

    def is_open_for_signup(self, request):
        return False

    def get_reset_password_from_key_url(self, key):
        # As allauth builds the path (one opaque key in place of its two URL parameters).
        path = reverse("account_reset_password_from_key", kwargs={"uidb36": "UID", "key": "KEY"})
        return absolute_url(path.replace("UID-KEY", quote(key)))

    def get_login_stages(self):
        # The second-factor step knows about an identity provider's MFA (accounts.mfa).
        return [
            "accounts.mfa.StaffAuthenticateStage"
            if stage == "allauth.mfa.stages.AuthenticateStage"
            else stage
            for stage in super().get_login_stages()
        ]

    def format_email_subject(self, subject):
        prefix = account_settings.EMAIL_SUBJECT_PREFIX
        if prefix is None:
            prefix = f"[{settings.MFA_TOTP_ISSUER}] "
        return prefix + str(subject)

    def send_mail(self, template_prefix, email, context):
        context = {**context, "current_site": portal_site()}
        if "signup_url" in context:
            # The "no such account" email (sent instead of a reset link to unknown addresses).
            context["signup_url"] = absolute_url(reverse("account_signup"))
        super().send_mail(template_prefix, email, context)


class StaffMFAAdapter(DefaultMFAAdapter):
    """TOTP secrets and recovery-code seeds are encrypted at rest like every other secret.

    allauth's default stores them as they are: anyone reading the table (a backup, a replica)
    could generate a staff member's codes.
    """

    def encrypt(self, text):
        return crypto.encrypt(text)

    def decrypt(self, encrypted_text):
        return crypto.decrypt(encrypted_text)


class StaffUserSessionsAdapter(DefaultUserSessionsAdapter):
    """Every session ended from the sessions page ("sign out all other sessions") is audited,
    like one ended on its own."""

    def end_sessions(self, sessions):
        for session in sessions:
            services.end_session(context.request, session)
