"""Whether a person has a second factor, and whether this session was signed in with it.

The one place that answers both questions: the MFA enrolment rule, API token creation and the
Django admin all ask here.
"""

from allauth.account.authentication import get_authentication_records
from allauth.mfa.stages import AuthenticateStage
from allauth.mfa.utils import is_mfa_enabled

# The type of the "mfa" authentication record an identity provider's sign-in leaves when the
# provider enforces MFA itself (sso: Entra ID with Conditional Access, set by a Global admin).
IDENTITY_PROVIDER_MFA = "identity_provider"


def is_signed_in_person(user):
    """A person signed in with a session: API clients, which use a token, have no second factor."""
    return user.is_authenticated and not user.is_api_client


def has_authenticator(user):
    """The person has enrolled an authenticator app (TOTP)."""
    return bool(user and user.is_authenticated) and is_mfa_enabled(user)


def session_is_mfa_verified(request):
    """This session's sign-in (or a later re-authentication) included a second factor."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return False
    return any(
        record.get("method") == "mfa" for record in get_authentication_records(request, user)
    )


def mfa_by_identity_provider(request, user):
    """This session's sign-in was through an identity provider that enforced MFA itself."""
    return any(
        (record.get("method"), record.get("type")) == ("mfa", IDENTITY_PROVIDER_MFA)
        for record in get_authentication_records(request, user)
    )


class StaffAuthenticateStage(AuthenticateStage):
    """allauth's second-factor step at sign-in, skipped when the identity provider did MFA."""

    def _should_handle(self, request):
        if self.login.user is not None and mfa_by_identity_provider(request, self.login.user):
            return False
        return super()._should_handle(request)
