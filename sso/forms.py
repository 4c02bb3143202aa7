import uuid

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from accounts.roles import Role
from core.forms import client_id_field, secret_field
from sso.models import SsoSettings
from sso.services import SETTINGS_FIELDS, secret_needed


def parse_group_roles(text):
    """``{group object id: role}`` from lines of ``<group object id> <role>``."""
    mapping = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        try:
            if len(parts) != 2:
                raise ValueError(line)
            group, role = str(uuid.UUID(parts[0])), Role(parts[1]).value
        except ValueError:
            raise ValidationError(
                _("Line %(number)d: write a group object id, a space and a role."),
                params={"number": number},
                code="group_line",
            ) from None
        mapping[group] = role
    return mapping


def format_group_roles(mapping):
    return "\n".join(f"{group} {role}" for group, role in mapping.items())


class SsoSettingsForm(forms.Form):
    """The app registration for staff sign-in. The client secret is write-only."""

    enabled = forms.BooleanField(label=_("Staff sign in with Microsoft"), required=False)
    tenant_id = forms.UUIDField(
        label=_("Partner tenant id"),
        help_text=_("Only accounts of this Microsoft Entra tenant may sign in."),
    )
    client_id = client_id_field()
    client_secret = secret_field(_("Client secret"), max_length=1000)
    login_url = forms.URLField(
        label=_("Login URL"),
        max_length=200,
        assume_scheme="https",
        initial=SsoSettings._meta.get_field("login_url").default,
        help_text=_("Microsoft's public cloud unless the tenant is in another cloud."),
    )
    entra_enforces_mfa = forms.BooleanField(
        label=_("Entra enforces MFA for this app (Conditional Access)"),
        required=False,
        help_text=_(
            "Only when a Conditional Access policy requires MFA for this app: the Entra "
            "sign-in then counts as the portal's second factor. Otherwise the portal asks for "
            "its own after it."
        ),
    )
    local_sign_in = forms.BooleanField(
        label=_("Staff may also sign in with a portal password"), required=False
    )
    group_roles = forms.CharField(
        label=_("Groups"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_(
            "One group a line: its object id, a space and a role (global_admin, "
            "user_management_admin, admin_agent or helpdesk_agent), besides the app roles."
        ),
    )

    def __init__(self, *args, settings, **kwargs):
        initial = {
            "enabled": settings.enabled,
            "tenant_id": settings.tenant_id,
            "client_id": settings.client_id,
            "login_url": settings.login_url,
            "entra_enforces_mfa": settings.entra_enforces_mfa,
            "local_sign_in": settings.local_sign_in,
            "group_roles": format_group_roles(settings.group_roles),
        }
        super().__init__(*args, initial=initial, **kwargs)
        self.settings = settings
        if settings.client_secret_encrypted:
            self.fields["client_secret"].help_text = _("Leave empty to keep the current secret.")
        else:
            self.fields["client_secret"].help_text = _("Stored encrypted and never shown again.")

    def clean_login_url(self):
        value = self.cleaned_data["login_url"]
        if "{" in value or "}" in value:
            raise ValidationError(_("The URL may not contain braces."), code="braces")
        return value.rstrip("/")

    def clean_group_roles(self):
        return parse_group_roles(self.cleaned_data["group_roles"])

    def clean(self):
        cleaned = super().clean()
        has_secret = cleaned.get("client_secret") or self.settings.client_secret_encrypted
        moved = cleaned.get("login_url") and secret_needed(self.settings, cleaned)
        if not cleaned.get("client_secret") and (
            (cleaned.get("enabled") and not has_secret) or moved
        ):
            self.add_error("client_secret", _("Enter the client secret."))
        return cleaned

    def values(self):
        """The cleaned settings as ``sso.services.update_settings`` takes them."""
        return {name: self.cleaned_data[name] for name in SETTINGS_FIELDS}
