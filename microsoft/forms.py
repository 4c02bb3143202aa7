from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from core.forms import client_id_field, secret_field
from microsoft.models import MicrosoftConnection
from microsoft.services import SETTINGS_FIELDS, URL_FIELDS, secret_needed


def no_braces(value):
    """URLs are used by literal substitution only; a brace could only be a format payload."""
    if "{" in value or "}" in value:
        raise ValidationError(_("The URL may not contain braces."), code="braces")


def _url_field(label, name):
    return forms.URLField(
        label=label,
        max_length=200,
        assume_scheme="https",
        initial=MicrosoftConnection._meta.get_field(name).default,
        validators=[no_braces],
    )


class ConnectionSettingsForm(forms.Form):
    """The app registration's settings. The client secret is write-only: never rendered back."""

    tenant_id = forms.UUIDField(
        label=_("Partner tenant id"),
        help_text=_("The Microsoft Entra tenant id (a GUID) of the partner tenant."),
    )
    client_id = client_id_field(_("The app registration's application (client) id."))
    client_secret = secret_field(_("Client secret"), max_length=1000)
    login_url = _url_field(_("Login URL"), "login_url")
    graph_url = _url_field(_("Graph URL"), "graph_url")
    partner_center_url = _url_field(_("Partner Center URL"), "partner_center_url")

    def __init__(self, *args, connection, **kwargs):
        initial = {name: getattr(connection, name) for name in SETTINGS_FIELDS}
        super().__init__(*args, initial=initial, **kwargs)
        self.connection = connection
        if connection.client_secret_encrypted:
            self.fields["client_secret"].help_text = _(
                "Leave empty to keep the current secret. Moving any of the URLs to another host "
                "needs it again."
            )
        else:
            self.fields["client_secret"].help_text = _("Stored encrypted and never shown again.")

    def clean(self):
        cleaned = super().clean()
        urls = {name: cleaned.get(name) for name in URL_FIELDS}
        if (
            all(urls.values())
            and not cleaned.get("client_secret")
            and secret_needed(self.connection, urls)
        ):
            self.add_error("client_secret", _("Enter the client secret."))
        return cleaned

    def settings(self):
        """The cleaned settings as ``microsoft.services.update_settings`` takes them."""
        return {name: self.cleaned_data[name] for name in SETTINGS_FIELDS}
