"""Staff sign-in with the partner tenant's Entra ID: one app registration, read on every request
(so the page and ``manage.py configure_sso`` take effect at once), and the leaver sweep's last
outcome."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.roles import Role
from core import crypto
from core.models import SingletonModel

PUBLIC_CLOUD_LOGIN_URL = "https://login.microsoftonline.com"
# The app roles the app registration defines, by their value in the id_token's ``roles`` claim.
APP_ROLES = {
    "Portal.GlobalAdmin": Role.GLOBAL_ADMIN,
    "Portal.UserManagementAdmin": Role.USER_MANAGEMENT_ADMIN,
    "Portal.AdminAgent": Role.ADMIN_AGENT,
    "Portal.HelpdeskAgent": Role.HELPDESK_AGENT,
}


class SsoSettings(SingletonModel):
    """A single row (``get()``): the portal signs in staff of one partner tenant."""

    enabled = models.BooleanField(_("sign-in with Microsoft"), default=False)
    tenant_id = models.UUIDField(_("partner tenant id"), null=True, blank=True)
    client_id = models.CharField(_("client id"), max_length=100, blank=True)
    # A Fernet ciphertext (core.crypto): never shown back, never logged.
    client_secret_encrypted = models.TextField(editable=False, default="")
    login_url = models.URLField(_("login URL"), default=PUBLIC_CLOUD_LOGIN_URL)
    entra_enforces_mfa = models.BooleanField(
        _("Entra enforces MFA for this app (Conditional Access)"), default=False
    )
    local_sign_in = models.BooleanField(_("sign-in with a portal password"), default=True)
    # Entra group object id -> portal role (accounts.roles.Role value), besides the app roles.
    group_roles = models.JSONField(_("group mapping"), default=dict, blank=True)
    last_sweep_at = models.DateTimeField(_("last leaver check"), null=True, blank=True)
    last_sweep_result = models.TextField(_("last leaver check result"), blank=True)
    modified_at = models.DateTimeField(_("modified"), auto_now=True)

    class Meta:
        verbose_name = _("sign-in with Microsoft")
        verbose_name_plural = _("sign-in with Microsoft")

    def __str__(self):
        return "Sign-in with Microsoft"

    client_secret = crypto.encrypted_text("client_secret_encrypted")

    @property
    def configured(self):
        """Tenant, client and secret are set: a sign-in (or a test sign-in) can start."""
        return bool(self.tenant_id and self.client_id and self.client_secret_encrypted)

    @property
    def passwords_allowed(self):
        """Staff may sign in with a portal password (always, while sign-in with Microsoft is
        off)."""
        return self.local_sign_in or not self.enabled

    @property
    def authority(self):
        """The partner tenant's own v2.0 authority (never ``common``)."""
        return f"{self.login_url.rstrip('/')}/{self.tenant_id}/v2.0"

    def roles_for(self, claims):
        """The portal roles the id_token's ``roles`` and ``groups`` claims map to, in the
        matrix's order."""
        app_roles = [value for value in claims.get("roles") or [] if isinstance(value, str)]
        groups = [value for value in claims.get("groups") or [] if isinstance(value, str)]
        found = {APP_ROLES[value] for value in app_roles if value in APP_ROLES}
        found |= {Role(self.group_roles[group]) for group in groups if group in self.group_roles}
        return [role for role in Role if role in found]
