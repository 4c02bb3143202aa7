from django import forms
from django.forms import formset_factory
from django.utils.translation import gettext_lazy as _

from customers import gdap
from customers.models import (
    ContactRoleChoices,
    Customer,
    DelegatedAdminRelationship,
    Subscription,
    validate_domain,
)


class DomainListField(forms.CharField):
    """Domains one per line (or separated by commas or spaces), each checked."""

    widget = forms.Textarea(attrs={"rows": 3})

    def to_python(self, value):
        text = super().to_python(value) or ""
        return sorted({part.strip().lower() for part in text.replace(",", " ").split() if part})

    def prepare_value(self, value):
        return "\n".join(value) if isinstance(value, list) else value

    def validate(self, value):
        super().validate(value)
        for domain in value:
            validate_domain(domain)


class TagListField(forms.CharField):
    def to_python(self, value):
        text = super().to_python(value) or ""
        return sorted({part.strip().lower() for part in text.split(",") if part.strip()})

    def prepare_value(self, value):
        return ", ".join(value) if isinstance(value, list) else value


class CustomerForm(forms.ModelForm):
    other_domains = DomainListField(
        label=_("Other domains"), required=False, help_text=_("One per line.")
    )
    tags = TagListField(
        label=_("Tags"), required=False, help_text=_("Comma-separated, for example: vip, 24x7")
    )

    class Meta:
        model = Customer
        fields = [
            "company_name",
            "tenant_id",
            "default_domain",
            "other_domains",
            "country",
            "relationship",
            "tags",
            "notes",
        ]
        labels = {
            "company_name": _("Company name"),
            "tenant_id": _("Tenant id"),
            "default_domain": _("Default domain"),
            "country": _("Country"),
            "relationship": _("Relationship"),
            "notes": _("Notes"),
        }
        help_texts = {"tenant_id": _("The customer's Microsoft Entra tenant id (a GUID).")}
        widgets = {"notes": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            # A tenant id names the customer's tenant for good; it is never edited.
            self.fields["tenant_id"].disabled = True
            self.initial["tags"] = [tag.name for tag in self.instance.tags.all()]

    def clean_default_domain(self):
        domain = self.cleaned_data["default_domain"].strip().lower()
        validate_domain(domain)
        return domain

    def clean_country(self):
        return self.cleaned_data["country"].strip().upper()

    def service_fields(self):
        """The cleaned data as ``customers.services`` takes it."""
        data = dict(self.cleaned_data)
        if self.instance.pk:
            data.pop("tenant_id", None)
        return data


class ContactForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=150)
    email = forms.EmailField(label=_("Email"), required=False)
    phone = forms.CharField(label=_("Phone"), max_length=40, required=False)
    # The role the browser preselects: a blank extra form is then unchanged, so not required.
    role = forms.ChoiceField(
        label=_("Role"), choices=ContactRoleChoices.choices, initial=ContactRoleChoices.PRIMARY
    )


ContactFormSet = formset_factory(ContactForm, extra=1, can_delete=True)


def contacts_from(formset):
    # Every contact shown, changed or not (an unchanged one is still the customer's); a blank
    # extra form has no cleaned data.
    return [
        {key: form.cleaned_data[key] for key in ("name", "email", "phone", "role")}
        for form in formset.forms
        if form.cleaned_data and not form.cleaned_data.get("DELETE")
    ]


class SubscriptionForm(forms.ModelForm):
    class Meta:
        model = Subscription
        fields = ["service_family", "offer_name", "quantity", "status", "term_end"]
        labels = {
            "service_family": _("Service family"),
            "offer_name": _("Offer"),
            "quantity": _("Quantity"),
            "status": _("Status"),
            "term_end": _("Term end"),
        }
        widgets = {"term_end": forms.DateInput(attrs={"type": "date"})}


class RelationshipForm(forms.ModelForm):
    status = forms.ChoiceField(label=_("Status"))
    roles = forms.MultipleChoiceField(
        label=_("Entra roles"),
        choices=sorted(gdap.ENTRA_ROLES.items(), key=lambda item: item[1]),
        widget=forms.CheckboxSelectMultiple,
        help_text=_(
            "Service Support Administrator is the least-privileged role that reads service "
            "health and opens support tickets. Global Administrator stops auto-extension."
        ),
    )

    class Meta:
        model = DelegatedAdminRelationship
        fields = [
            "display_name",
            "microsoft_id",
            "status",
            "duration",
            "auto_extend_duration",
            "roles",
            "activated_on",
            "ends_on",
        ]
        labels = {
            "display_name": _("Display name"),
            "microsoft_id": _("Microsoft id"),
            "duration": _("Duration"),
            "auto_extend_duration": _("Auto-extend duration"),
            "activated_on": _("Activated"),
            "ends_on": _("Ends"),
        }
        widgets = {
            "activated_on": forms.DateTimeInput(attrs={"type": "datetime-local"}),
            "ends_on": forms.DateTimeInput(attrs={"type": "datetime-local"}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        choices = list(gdap.RelationshipStatusChoices.choices)
        current = self.instance.status
        if current and current not in gdap.RelationshipStatusChoices.values:
            # Keep a value Graph sent that we do not know yet, rather than forcing a change.
            choices.append((current, current))
        self.fields["status"].choices = choices
        unknown_roles = [role for role in self.instance.roles or [] if role not in gdap.ENTRA_ROLES]
        if unknown_roles:
            self.fields["roles"].choices += [(role, role) for role in unknown_roles]

    def clean(self):
        cleaned = super().clean()
        activated, ends = cleaned.get("activated_on"), cleaned.get("ends_on")
        if activated and ends and ends <= activated:
            self.add_error("ends_on", _("The relationship must end after it was activated."))
        return cleaned


MAX_IMPORT_BYTES = 10 * 1024 * 1024


class CustomerImportForm(forms.Form):
    file = forms.FileField(
        label=_("CSV file"),
        help_text=_("UTF-8, comma- or semicolon-separated, with a header row. Up to 10 MB."),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_IMPORT_BYTES:
            raise forms.ValidationError(_("The file is larger than 10 MB: split it in parts."))
        return upload
