from django import forms
from django.utils.translation import gettext_lazy as _

from core.forms import secret_field
from customers.models import Customer
from servicehealth.models import AuthMode, FeedSource
from servicehealth.services import FEED_SOURCE_FIELDS


class FeedSourceForm(forms.ModelForm):
    """Add or edit a feed source. The client secret is write-only: never rendered back."""

    field_order = ["name", "customer", "tenant_id", "auth_mode"]

    base_url = forms.URLField(
        label=_("Graph base URL"),
        max_length=200,
        assume_scheme="https",
        initial=FeedSource._meta.get_field("base_url").default,
    )

    client_secret = secret_field(_("Client secret"), max_length=1000)

    class Meta:
        model = FeedSource
        fields = list(FEED_SOURCE_FIELDS)
        labels = {
            "name": _("Name"),
            "customer": _("Customer"),
            "tenant_id": _("Tenant id"),
            "token_url": _("Token URL"),
            "client_id": _("Client id"),
            "poll_interval_seconds": _("Poll interval (seconds)"),
            "enabled": _("Enabled"),
            "auth_mode": _("Access"),
        }
        help_texts = {
            "customer": _("Leave empty for the partner's own tenant."),
            "tenant_id": _(
                "The Microsoft Entra tenant id (a GUID) to read; for a customer, leave empty to "
                "use the customer's."
            ),
            "token_url": _("{tenant_id} is replaced by the tenant id."),
            "client_id": _("The app registration's application (client) id."),
            "poll_interval_seconds": _("At least 60; Graph allows about 24 calls an hour at 300."),
            "auth_mode": _(
                "Through the partner's Microsoft connection, a customer's feed needs no app of "
                "its own: the URLs, client id and secret below are used only for client "
                "credentials."
            ),
        }
        # No password manager should offer a person's login for the app's id and secret.
        widgets = {"client_id": forms.TextInput(attrs={"autocomplete": "off"})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        customer = self.fields["customer"]
        customer.queryset = Customer.objects.only("pk", "company_name", "tenant_id").order_by(
            "company_name"
        )
        customer.empty_label = _("Partner tenant")
        self.fields["tenant_id"].required = False
        # Left out (an older form or script): the source keeps its mode.
        self.fields["auth_mode"].required = False
        if self.instance.pk:
            keep = _("Leave empty to keep the current secret.")
            moved = _("Moving the token URL or the Graph base URL to another host needs it again.")
            self.fields["client_secret"].help_text = f"{keep} {moved}"
        else:
            self.fields["client_secret"].help_text = _(
                "Stored encrypted and never shown again; after an error, type it once more."
            )

    def clean(self):
        cleaned = super().clean()
        customer, tenant_id = cleaned.get("customer"), cleaned.get("tenant_id")
        if not tenant_id and "tenant_id" not in self.errors:
            if customer is not None:
                cleaned["tenant_id"] = customer.tenant_id
            else:
                self.add_error("tenant_id", _("The partner tenant's feed needs its tenant id."))
        cleaned["auth_mode"] = cleaned.get("auth_mode") or self.instance.auth_mode
        if cleaned["auth_mode"] == AuthMode.CLIENT_CREDENTIALS:
            # Only an app of the tenant's own needs its id and secret here.
            required = forms.Field.default_error_messages["required"]
            if not cleaned.get("client_id") and "client_id" not in self.errors:
                self.add_error("client_id", required)
            if not self.instance.pk and not cleaned.get("client_secret"):
                self.add_error("client_secret", required)
        return cleaned

    def service_fields(self):
        """The cleaned data as ``servicehealth.services`` takes it."""
        data = {field: self.cleaned_data[field] for field in self.Meta.fields}
        return data, self.cleaned_data.get("client_secret") or None
