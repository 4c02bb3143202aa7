"""Who may sign in with Entra ID, as what, and the settings that decide it.

``admit`` runs on every Entra sign-in whose id_token passed ``sso.oidc``'s checks: the app
roles and groups in the token set the person's portal roles each time (Entra is the source of
truth while sign-in with Microsoft is on); the first sign-in with a mapped role creates the
account, or links the local account with the same address. A refusal changes no user.
"""

import logging

from allauth.account.internal.flows.login import record_authentication
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils.translation import gettext as _

from accounts.mfa import IDENTITY_PROVIDER_MFA
from accounts.models import User
from accounts.services import staff_snapshot
from core import audit
from outbound.urlguard import same_origin
from sso.models import SsoSettings

logger = logging.getLogger("accounts.security")

# What the audit log shows for a secret that was set: never the secret.
SECRET_CHANGED = "changed"  # noqa: S105 - a marker, not a secret
SETTINGS_FIELDS = (
    "enabled",
    "tenant_id",
    "client_id",
    "login_url",
    "entra_enforces_mfa",
    "local_sign_in",
    "group_roles",
)
# The claims an audit entry keeps of a refused or tested sign-in: who and from where, no more.
AUDITED_CLAIMS = ("oid", "tid", "preferred_username", "aud", "iss")


class Refused(Exception):
    """The sign-in is refused; ``reason`` is a short code, str() the message for the person."""

    def __init__(self, reason, message):
        super().__init__(message)
        self.reason = reason


def snapshot(settings):
    data = {name: getattr(settings, name) for name in SETTINGS_FIELDS}
    data["tenant_id"] = str(data["tenant_id"] or "")
    return data


def secret_needed(settings, values):
    """Whether saving ``values`` needs the client secret typed again: a secret is stored and
    the login URL (where the secret is posted) moves to another host."""
    login_url = values.get("login_url") or settings.login_url
    return bool(settings.client_secret_encrypted) and not same_origin(login_url, settings.login_url)


@transaction.atomic
def update_settings(*, actor, values, client_secret=None, request=None):
    """Save the settings (the page or ``configure_sso``); the next request uses them."""
    settings = SsoSettings.objects.select_for_update().get(pk=SsoSettings.get().pk)
    before = snapshot(settings)
    if secret_needed(settings, values) and not client_secret:
        raise ValidationError(
            _("Enter the client secret: it is given for the login host, which this changes."),
            code="secret_needed",
        )
    for name, value in values.items():
        if name not in SETTINGS_FIELDS:
            raise ValueError(f"not an SSO setting: {name}")
        setattr(settings, name, value)
    if client_secret:
        settings.client_secret = client_secret
    if settings.enabled and not settings.configured:
        raise ValidationError(_("Set the tenant, client id and secret before turning it on."))
    settings.save()
    after = snapshot(settings)
    if client_secret:
        after["client_secret"] = SECRET_CHANGED
    audit.record_change(actor, "sso_settings.updated", settings, before, after, request)
    return settings


def audited_claims(claims):
    return {name: str(claims[name]) for name in AUDITED_CLAIMS if name in claims}


def record_refusal(request, reason, message, claims=None):
    """Audit a refused sign-in (nothing else is written)."""
    logger.warning("entra sign-in refused reason=%s ip=%s", reason, audit.client_ip(request))
    audit.record(
        actor=None,
        action="sso_sign_in.refused",
        target=SsoSettings.get(),
        after={"reason": reason, "message": message, **audited_claims(claims or {})},
        request=request,
    )


def _email(claims):
    email = (claims.get("email") or claims.get("preferred_username") or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise Refused(
            "no_email", _("Your Microsoft account has no email address the portal can use.")
        ) from None
    return email


def _account_for(sociallogin, claims):
    """The portal account this Entra account signs in to, or None for a new one."""
    if sociallogin.is_existing:
        return sociallogin.user
    user = User.objects.filter(email__iexact=_email(claims)).first()
    if user is not None and user.socialaccount_set.exists():
        raise Refused(
            "linked_elsewhere",
            _("Your portal account is linked to another Microsoft account. Ask a Global admin."),
        )
    return user


def _set_roles(user, roles, request, created):
    before = None if created else staff_snapshot(user)
    user.groups.set(Group.objects.filter(name__in=[role.value for role in roles]))
    after = staff_snapshot(user)
    action = "staff.sso_created" if created else "staff.sso_roles_changed"
    audit.record_change(user, action, user, before, after, request)


def admit(request, sociallogin, settings):
    """Let the person in as the roles their token maps to (see the module docstring)."""
    claims = sociallogin.account.extra_data.get("id_token") or {}
    if not settings.enabled:
        raise Refused("disabled", _("Sign-in with Microsoft is turned off."))
    roles = settings.roles_for(claims)
    if not roles:
        raise Refused(
            "no_role",
            _("Your Microsoft account holds no role in the portal. Ask your administrator."),
        )
    with transaction.atomic():
        user = _account_for(sociallogin, claims)
        if user is not None and (user.is_api_client or not user.is_active):
            raise Refused(
                "deactivated", _("Your portal account is deactivated. Ask a Global admin.")
            )
        created = user is None
        if created:
            user = User.objects.create_user(
                email=_email(claims), full_name=str(claims.get("name") or "")[:150]
            )
        _set_roles(user, roles, request, created)
        if not sociallogin.is_existing:
            sociallogin.connect(request, user)
    if settings.entra_enforces_mfa:
        # Conditional Access required MFA for this sign-in; v2 tokens carry no ``amr`` to show it.
        record_authentication(request, user, "mfa", type=IDENTITY_PROVIDER_MFA)
    return user
