from allauth.account.adapter import DefaultAccountAdapter
from allauth.core import context
from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.usersessions.adapter import DefaultUserSessionsAdapter

from core import crypto


class StaffAccountAdapter(DefaultAccountAdapter):
    """Staff are invited by an administrator; nobody signs themselves up."""

    def is_open_for_signup(self, request):
        return False


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
        from accounts import services

        for session in sessions:
            services.end_session(context.request, session)
