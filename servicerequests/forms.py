"""Forms of the service-request pages and of the support administration pages.

Secrets (a channel's access token or signing secret) are write-only: PasswordInput fields that are
never rendered back, and an empty value keeps what is stored.
"""

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from accounts.roles import Role
from customers.models import Customer
from incidents.models import Incident
from servicerequests import services
from servicerequests.channel_setup import RULE_FIELDS
from servicerequests.models import (
    CategoryChoices,
    Channel,
    RoutingRule,
    SeverityChoices,
    SupportTopic,
)

SUPPORT_ROLES = [Role.GLOBAL_ADMIN, Role.ADMIN_AGENT, Role.HELPDESK_AGENT]


def customer_choices():
    return Customer.objects.only("pk", "company_name", "tenant_id").order_by("company_name", "pk")


class CustomerChoiceField(forms.ModelChoiceField):
    """Customers by tenant id (the id staff see everywhere), labelled by name."""

    def __init__(self, **kwargs):
        super().__init__(queryset=customer_choices(), to_field_name="tenant_id", **kwargs)

    def label_from_instance(self, obj):
        return obj.company_name


# --- opening a service request ----------------------------------------------------------------


class ServiceRequestForm(forms.Form):
    """What an agent types to escalate to Microsoft; ``services.open_service_request`` saves it."""

    customer = CustomerChoiceField(label=_("Customer"), empty_label=_("Choose a customer"))
    support_topic = forms.ModelChoiceField(
        label=_("Support topic"),
        queryset=SupportTopic.objects.filter(active=True).order_by("category", "name"),
        empty_label=_("Choose a support topic"),
        help_text=_("Its category (commercial or technical) decides which support plan applies."),
    )
    severity = forms.ChoiceField(
        label=_("Severity"),
        choices=SeverityChoices.choices,
        initial=SeverityChoices.MODERATE,
        help_text=_(
            "Critical: production down, first response within 2 hours; moderate: 4 hours; "
            "minimal: 8 hours."
        ),
    )
    title = forms.CharField(label=_("Title"), max_length=200)
    description = forms.CharField(
        label=_("Description"),
        max_length=10000,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text=_("What happens, since when, who is affected, and what you already tried."),
    )
    contact_name = forms.CharField(label=_("Primary contact"), max_length=150)
    contact_email = forms.EmailField(label=_("Contact email"))
    contact_phone = forms.CharField(label=_("Contact phone"), max_length=40, required=False)
    incident = forms.ModelChoiceField(
        queryset=Incident.objects.only("pk", "microsoft_id", "title"),
        to_field_name="microsoft_id",
        required=False,
        widget=forms.HiddenInput,
    )

    def __init__(self, *args, affected_customers=None, **kwargs):
        super().__init__(*args, **kwargs)
        if affected_customers is not None:
            self.fields["customer"].queryset = affected_customers
            self.fields["customer"].help_text = _("The customers this incident affects.")

    def clean_title(self):
        return services.clean_title(self.cleaned_data["title"])

    def clean_description(self):
        return services.clean_description(self.cleaned_data["description"])

    def clean_contact_phone(self):
        phone = self.cleaned_data["contact_phone"].strip()
        allowed = set("0123456789+-() ./")
        if phone and (set(phone) - allowed or sum(c.isdigit() for c in phone) < 6):
            raise forms.ValidationError(
                _("Enter a phone number of digits, spaces and + - ( ), e.g. +44 20 7946 0000.")
            )
        return phone


class NoteForm(forms.Form):
    text = forms.CharField(
        label=_("Note"), max_length=5000, widget=forms.Textarea(attrs={"rows": 3})
    )

    def clean_text(self):
        text = self.cleaned_data["text"].strip()
        if not text:
            raise forms.ValidationError(_("Write the note first."))
        return text


class StatusForm(forms.Form):
    """Close or reopen; Microsoft's own changes come back through the channel."""

    CLOSE, REOPEN = "close", "reopen"
    action = forms.ChoiceField(choices=[(CLOSE, _("Close")), (REOPEN, _("Reopen"))])


def support_staff():
    return (
        User.objects.staff_members()
        .filter(is_active=True, groups__name__in=[role.value for role in SUPPORT_ROLES])
        .distinct()
        .order_by("full_name", "email")
    )


class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(
        label=_("Assignee"),
        queryset=User.objects.none(),
        required=False,
        empty_label=_("Nobody"),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = support_staff()


class ReferenceForm(forms.Form):
    reference = forms.RegexField(
        label=_("Microsoft's reference"),
        max_length=100,
        regex=r"^[A-Za-z0-9][A-Za-z0-9_\-./]*$",
        error_messages={
            "invalid": _("Letters, digits and - _ . / only, as Microsoft's portal shows it.")
        },
        help_text=_("The service request number Microsoft's portal gave you."),
    )


# --- support administration -------------------------------------------------------------------

# Which secret each kind of channel holds (its credentials' keys), as form fields.
CREDENTIAL_FIELDS = {
    "partner_center": ["access_token"],
    "webhook": ["signing_secret"],
}


def _secret_field(label, help_text):
    return forms.CharField(
        label=label,
        required=False,
        strip=False,
        max_length=4000,
        help_text=help_text,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )


class ChannelForm(forms.ModelForm):
    access_token = _secret_field(
        _("Access token (Partner Center, fallback)"),
        _(
            "Leave empty: the channel uses the Microsoft connection. A bearer token pasted here "
            "is used instead of it, and expires within the hour."
        ),
    )
    forget_access_token = forms.BooleanField(
        label=_("Use the Microsoft connection: forget the pasted access token"),
        required=False,
        widget=forms.CheckboxInput(attrs={"data-channel-kind": "partner_center"}),
    )
    signing_secret = _secret_field(
        _("Signing secret (webhook)"),
        _(
            "Signs what the portal sends and checks the channel's callbacks. At least 24 "
            "bytes; a long random one is best."
        ),
    )

    class Meta:
        model = Channel
        fields = ["name", "kind", "category", "tier", "endpoint", "enabled"]
        labels = {
            "name": _("Name"),
            "kind": _("Kind"),
            "category": _("Category"),
            "tier": _("Support plan"),
            "endpoint": _("Endpoint"),
            "enabled": _("Enabled"),
        }
        help_texts = {
            "endpoint": _(
                "Partner Center API: its base URL. Webhook: the URL requests are posted to. "
                "Email: the address. Manual: the page of Microsoft's portal to file them in."
            ),
        }
        widgets = {"endpoint": forms.TextInput(attrs={"autocomplete": "off"})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        stored = self.instance.credentials if self.instance.pk else {}
        keep = _("Leave empty to keep the current one.")
        moved = _("Moving the endpoint to another host needs it again.")
        for kind, keys in CREDENTIAL_FIELDS.items():
            for key in keys:
                field = self.fields[key]
                # static/js/servicerequests.js shows only the secret the chosen kind uses.
                field.widget.attrs["data-channel-kind"] = kind
                if key in stored:
                    field.help_text = f"{field.help_text} {keep} {moved}"
        if "access_token" not in stored:
            del self.fields["forget_access_token"]  # nothing pasted to forget

    def credentials(self):
        """The secrets typed in this time (empty ones left out: they keep what is stored)."""
        kind = self.cleaned_data.get("kind")
        return {
            key: self.cleaned_data[key]
            for key in CREDENTIAL_FIELDS.get(kind, [])
            if self.cleaned_data.get(key)
        }

    def forgotten(self):
        """The stored secrets to drop (a pasted Partner Center token, for the connection)."""
        if self.cleaned_data.get("forget_access_token"):
            return ["access_token"]
        return []

    def service_fields(self):
        return {field: self.cleaned_data[field] for field in self.Meta.fields}, self.credentials()


class RoutingRuleForm(forms.ModelForm):
    class Meta:
        model = RoutingRule
        fields = list(RULE_FIELDS)
        labels = {
            "position": _("Order"),
            "name": _("Name"),
            "category": _("Category"),
            "severity": _("Severity"),
            "support_topic": _("Support topic"),
            "customer_tag": _("Customer tag"),
            "channel": _("Send to channel"),
            "enabled": _("Enabled"),
        }
        help_texts = {
            "position": _("Rules are tried from the lowest number up; the first match wins."),
            "category": _("Leave empty to match any."),
            "severity": _("Leave empty to match any."),
            "support_topic": _("Leave empty to match any."),
            "customer_tag": _("Matches customers with this tag; leave empty to match any."),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["channel"].queryset = Channel.objects.order_by("category", "name")
        self.fields["support_topic"].queryset = SupportTopic.objects.order_by("category", "name")
        self.fields["support_topic"].empty_label = _("Any")
        self.fields["category"].choices = [("", _("Any")), *CategoryChoices.choices]
        self.fields["severity"].choices = [("", _("Any")), *SeverityChoices.choices]

    def clean_customer_tag(self):
        return self.cleaned_data["customer_tag"].strip()

    def clean(self):
        cleaned = super().clean()
        category, topic = cleaned.get("category"), cleaned.get("support_topic")
        channel = cleaned.get("channel")
        if category and topic is not None and topic.category != category:
            self.add_error(
                "support_topic",
                _("This topic is %(topic_category)s; the rule asks for %(category)s.")
                % {
                    "topic_category": topic.get_category_display(),
                    "category": CategoryChoices(category).label,
                },
            )
        wanted = category or (topic.category if topic is not None else "")
        if channel is not None and wanted and channel.category != wanted:
            self.add_error(
                "channel",
                _("%(channel)s takes %(category)s requests: this rule would never send to it.")
                % {"channel": channel, "category": channel.get_category_display()},
            )
        return cleaned

    def service_fields(self):
        return {field: self.cleaned_data[field] for field in self.Meta.fields}


class SupportTopicForm(forms.ModelForm):
    class Meta:
        model = SupportTopic
        fields = ["name", "description", "category", "partner_center_id", "active"]
        labels = {
            "name": _("Name"),
            "description": _("Description"),
            "category": _("Category"),
            "partner_center_id": _("Partner Center id"),
            "active": _("Active"),
        }
        help_texts = {
            "partner_center_id": _(
                "The support topic id Partner Center's API expects; needed for that channel."
            ),
            "active": _("Inactive topics are not offered for new requests."),
        }
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}

    def clean_partner_center_id(self):
        value = self.cleaned_data["partner_center_id"].strip()
        if value and not value.isdigit():
            raise forms.ValidationError(_("Partner Center's topic ids are digits only."))
        return value

    def service_fields(self):
        return {field: self.cleaned_data[field] for field in self.Meta.fields}


class RoutingTestForm(forms.Form):
    """The test-routing page: an imagined request, routed without opening anything."""

    support_topic = forms.ModelChoiceField(
        label=_("Support topic"),
        queryset=SupportTopic.objects.order_by("category", "name"),
        required=False,
        empty_label=_("Any"),
    )
    category = forms.ChoiceField(
        label=_("Category"),
        choices=[("", _("From the topic")), *CategoryChoices.choices],
        required=False,
    )
    severity = forms.ChoiceField(
        label=_("Severity"), choices=SeverityChoices.choices, initial=SeverityChoices.MODERATE
    )
    customer = CustomerChoiceField(label=_("Customer"), required=False, empty_label=_("None"))

    def clean(self):
        cleaned = super().clean()
        topic = cleaned.get("support_topic")
        if not cleaned.get("category"):
            if topic is None:
                raise forms.ValidationError(_("Choose a support topic or a category."))
            cleaned["category"] = topic.category
        return cleaned
