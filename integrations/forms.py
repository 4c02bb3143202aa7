"""Forms of the integrations pages: webhook subscriptions, PSA connections, customer company ids.

Secrets (the signing secret, the receiver's password or token) are write-only: PasswordInput
fields never rendered back, and an empty password or token keeps what is stored. The checks are
the service layer's (``services.check_*``), shared with the API, shown next to their field.
"""

import uuid

from django import forms
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.forms import secret_field
from core.models import EventTypeChoices
from core.outbound import http_url_error
from customers.models import Customer
from integrations import services
from integrations.models import (
    PsaConnection,
    PsaKindChoices,
    WebhookAuthChoices,
    WebhookDeliveryStateChoices,
    WebhookSubscription,
)


class CustomerListField(forms.CharField):
    """Customers typed as tenant ids or default domains, one a line (or separated by spaces).

    A textarea rather than a select: it stays usable with thousands of customers, and a list can
    be pasted from the customer export.
    """

    widget = forms.Textarea(attrs={"rows": 4, "spellcheck": "false"})

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return "\n".join(customer.default_domain for customer in value)
        return value

    def clean(self, value):
        text = super().clean(value) or ""
        entries = list(dict.fromkeys(text.replace(",", " ").split()))
        if not entries:
            return []
        tenant_ids, domains = set(), set()
        for entry in entries:
            try:
                tenant_ids.add(uuid.UUID(entry))
            except ValueError:
                domains.add(entry.lower())
        found = list(
            Customer.objects.filter(
                Q(tenant_id__in=tenant_ids) | Q(default_domain__in=domains)
            ).only("pk", "tenant_id", "default_domain", "company_name")
        )
        known = {str(c.tenant_id) for c in found} | {c.default_domain.lower() for c in found}
        unknown = [
            entry
            for entry in entries
            if entry.lower() not in known and _normal_uuid(entry) not in known
        ]
        if unknown:
            raise forms.ValidationError(
                _("No customer has this tenant id or default domain: %(entries)s.")
                % {"entries": ", ".join(unknown[:10]) + (" …" if len(unknown) > 10 else "")}
            )
        return found


def _normal_uuid(entry):
    try:
        return str(uuid.UUID(entry))
    except ValueError:
        return None


class WebhookSubscriptionForm(forms.ModelForm):
    event_types = forms.MultipleChoiceField(
        label=_("Events"),
        choices=EventTypeChoices.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple(attrs={"class": "choice-list"}),
    )
    # Not the model's URLField: http_url_error (shared with the API) says what is wrong.
    target_url = forms.CharField(
        label=_("Target URL"),
        max_length=500,
        help_text=_(
            "The receiver's final address (redirects are not followed). Only public "
            "addresses, unless the operator allows the host."
        ),
        widget=forms.URLInput(attrs={"autocomplete": "off", "placeholder": "https://"}),
    )
    customers = CustomerListField(
        label=_("Only these customers"),
        required=False,
        help_text=_(
            "Tenant ids or default domains, one a line. Empty: every customer, and events "
            "that concern no customer (such as a failing feed)."
        ),
    )
    auth_secret = secret_field(
        _("Password or token"),
        _("Sent in the Authorization header with each delivery."),
    )
    secret = secret_field(
        _("Signing secret"),
        _(
            "Leave empty and the portal generates one (recommended). To reuse a receiver's "
            "secret, paste it: whsec_ followed by at least 24 bytes in base64."
        ),
        max_length=200,
    )

    class Meta:
        model = WebhookSubscription
        fields = ["name", "target_url", "psa", "is_active", "auth_type", "auth_username"]
        labels = {
            "name": _("Name"),
            "psa": _("PSA"),
            "is_active": _("Active"),
            "auth_type": _("Authentication"),
            "auth_username": _("User name"),
        }
        help_texts = {
            "psa": _("Whose company ids the events carry as psa_company."),
            "auth_type": _(
                "Every delivery is signed; add Basic or Bearer authentication for a gateway in "
                "front of the receiver."
            ),
            "auth_username": _("For Basic authentication."),
        }
        widgets = {
            "auth_username": forms.TextInput(attrs={"autocomplete": "off"}),
        }

    # Fields after the model's, in the order a person fills them in.
    field_order = [
        "name",
        "target_url",
        "event_types",
        "psa",
        "customers",
        "auth_type",
        "auth_username",
        "auth_secret",
        "secret",
        "is_active",
    ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.creating = self.instance.pk is None
        self.fields["psa"].queryset = PsaConnection.objects.order_by("name")
        self.fields["psa"].empty_label = _("None")
        if self.creating:
            self.fields["is_active"].initial = True
        else:
            del self.fields["secret"]  # rotated with its own button, never typed in again
            self.initial["event_types"] = list(self.instance.event_types)
            self.initial["customers"] = list(
                self.instance.customers.only("default_domain").order_by("default_domain")
            )
            if self.instance.auth_secret_encrypted:
                field = self.fields["auth_secret"]
                keep = _("Leave empty to keep the current one.")
                moved = _("Moving the target URL to another host needs it again.")
                field.help_text = f"{field.help_text} {keep} {moved}"

    def clean_name(self):
        return " ".join(self.cleaned_data["name"].split())

    def clean_target_url(self):
        url = self.cleaned_data["target_url"].strip()
        problem = http_url_error(url)
        if problem:
            raise forms.ValidationError(problem)
        return url

    def clean_event_types(self):
        values = self.cleaned_data["event_types"]
        problem = services.check_event_types(values)
        if problem:
            raise forms.ValidationError(problem)
        # In the order of the choices, whatever order the browser sent them in.
        return [value for value in EventTypeChoices.values if value in values]

    def clean_auth_username(self):
        return self.cleaned_data["auth_username"].strip()

    def clean_secret(self):
        secret = self.cleaned_data["secret"].strip()
        problem = services.check_secret(secret)
        if problem:
            raise forms.ValidationError(problem)
        return secret

    def clean(self):
        cleaned = super().clean()
        auth_type = cleaned.get("auth_type")
        if auth_type:
            errors = services.check_auth(
                auth_type,
                cleaned.get("auth_username", ""),
                cleaned.get("auth_secret", ""),
                has_secret=bool(not self.creating and self.instance.auth_secret_encrypted),
            )
            for field, message in errors.items():
                if field not in self.errors:
                    self.add_error(field, message)
        return cleaned

    def service_data(self):
        """The fields ``create_subscription`` / ``update_subscription`` take as ``data``."""
        data = {field: self.cleaned_data[field] for field in self.Meta.fields}
        data["event_types"] = self.cleaned_data["event_types"]
        if data["auth_type"] == WebhookAuthChoices.NONE:
            data["auth_username"] = ""
        return data


class DeliveryFilterForm(forms.Form):
    state = forms.ChoiceField(
        label=_("State"),
        required=False,
        choices=[("", _("Any")), *WebhookDeliveryStateChoices.choices],
    )


class PsaConnectionForm(forms.ModelForm):
    class Meta:
        model = PsaConnection
        fields = ["name", "kind", "default_company_id", "is_active"]
        labels = {
            "name": _("Name"),
            "kind": _("Product"),
            "default_company_id": _("Default company id"),
            "is_active": _("Active"),
        }
        help_texts = {
            "is_active": _("Inactive connections are left out of events and customer pages."),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [("", _("Choose a product")), *PsaKindChoices.choices]

    def clean_name(self):
        return " ".join(self.cleaned_data["name"].split())

    def service_data(self):
        return {field: self.cleaned_data[field] for field in self.Meta.fields}


def psa_label(psa):
    """ "HaloPSA (HaloPSA)" says nothing twice: the product only when the name is not it."""
    product = psa.get_kind_display()
    return psa.name if psa.name == product else f"{psa.name} ({product})"


class CustomerPsaCompaniesForm(forms.Form):
    """One company id per active PSA connection; blank removes the customer's mapping."""

    def __init__(self, *args, psas, current, **kwargs):
        super().__init__(*args, **kwargs)
        self.psas = {}
        for psa in psas:
            name = f"psa_{psa.pk}"
            self.psas[name] = psa
            self.fields[name] = forms.CharField(
                label=psa_label(psa),
                required=False,
                max_length=100,
                initial=current.get(psa.pk, ""),
                help_text=_("Empty: events carry the default company, %(company)s.")
                % {"company": psa.default_company_id},
                widget=forms.TextInput(attrs={"autocomplete": "off"}),
            )

    def company_ids(self):
        return {psa: self.cleaned_data[name].strip() for name, psa in self.psas.items()}
