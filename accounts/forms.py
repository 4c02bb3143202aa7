from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from accounts import scopes as api_scopes
from accounts.models import ApiClient, User, validate_rate
from accounts.roles import Role
from accounts.scopes import Access, ApiResource


def role_choices_for(actor):
    """Only Global admins may hand out the Global admin role."""
    if actor.is_superuser or Role.GLOBAL_ADMIN in actor.roles:
        return Role.choices
    return [(value, label) for value, label in Role.choices if value != Role.GLOBAL_ADMIN]


class StaffRolesField(forms.MultipleChoiceField):
    widget = forms.CheckboxSelectMultiple

    def __init__(self, **kwargs):
        kwargs.setdefault("label", _("Roles"))
        kwargs.setdefault("required", False)
        kwargs.setdefault(
            "help_text", _("A user may hold several roles. With none, they see only their profile.")
        )
        super().__init__(choices=Role.choices, **kwargs)


class InviteStaffForm(forms.Form):
    email = forms.EmailField(label=_("Email address"))
    full_name = forms.CharField(label=_("Full name"), max_length=150)
    roles = StaffRolesField()
    language = forms.ChoiceField(
        label=_("Language of the invitation"), choices=settings.LANGUAGES, initial="en"
    )

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["roles"].choices = role_choices_for(actor)

    def clean_email(self):
        email = self.cleaned_data["email"].strip().lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(_("A user with this email address already exists."))
        return email


class StaffForm(forms.Form):
    full_name = forms.CharField(label=_("Full name"), max_length=150)
    roles = StaffRolesField()

    def __init__(self, *args, actor, member=None, **kwargs):
        super().__init__(*args, **kwargs)
        roles = self.fields["roles"]
        roles.choices = role_choices_for(actor)
        self.own_roles = member is not None and member.pk == actor.pk
        if self.own_roles:
            # Shown, not editable: nobody changes their own roles (accounts.services).
            roles.disabled = True
            roles.choices = Role.choices
            roles.help_text = _("You cannot change your own roles; another administrator can.")

    def clean_roles(self):
        roles = self.cleaned_data["roles"]
        if self.own_roles:
            # A disabled field keeps its initial value whatever was posted: say so rather than
            # save the rest and pretend a hand-made request's new roles were taken.
            name = self.add_prefix("roles")
            posted = self.fields["roles"].widget.value_from_datadict(self.data, self.files, name)
            if name in self.data and set(posted) != set(roles):
                raise forms.ValidationError(
                    _("You cannot change your own roles; another administrator can.")
                )
        return roles


class ProfileForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ["full_name", "language"]
        labels = {"full_name": _("Full name"), "language": _("Language")}


class ScopeGridForm(forms.Form):
    """One none / read / write choice per API resource, shown as a grid; plus the rate limit."""

    access_choices = Access.choices

    rate_limit = forms.CharField(
        label=_("Rate limit"),
        max_length=20,
        required=False,
        validators=[validate_rate],
        help_text=_("For example 120/min or 5000/hour. Empty: the portal's default."),
    )

    def __init__(self, *args, scopes=(), **kwargs):
        super().__init__(*args, **kwargs)
        current = api_scopes.levels(scopes)
        for resource in ApiResource:
            self.fields[self.scope_field_name(resource)] = forms.ChoiceField(
                label=resource.label,
                choices=Access.choices,
                required=False,
                initial=current[resource].value,
                widget=forms.RadioSelect,
            )

    @staticmethod
    def scope_field_name(resource):
        return f"scope_{resource.value}"

    def scope_rows(self):
        """``[(resource, bound field)]`` for the grid template."""
        return [(resource, self[self.scope_field_name(resource)]) for resource in ApiResource]

    def other_fields(self):
        return [field for field in self.visible_fields() if not field.name.startswith("scope_")]

    def clean(self):
        cleaned = super().clean()
        cleaned["scopes"] = api_scopes.from_levels(
            {
                resource: cleaned.get(self.scope_field_name(resource)) or ""
                for resource in ApiResource
            }
        )
        if not cleaned["scopes"]:
            raise forms.ValidationError(
                _("Give the client read or write access to at least one resource."),
                code="no_scope",
            )
        return cleaned

    def service_data(self):
        """What ``accounts.services`` takes."""
        return {
            name: value
            for name, value in self.cleaned_data.items()
            if not name.startswith("scope_")
        }


class ApiClientForm(ScopeGridForm):
    name = forms.CharField(label=_("Name"), max_length=100, help_text=_("For example: ConnectWise"))
    role = forms.ChoiceField(
        label=_("Role"),
        choices=Role.choices,
        initial=Role.HELPDESK_AGENT,
        help_text=_("The client may do what a person with this role may do, within its scopes."),
    )

    field_order = ["name", "role", "rate_limit"]

    def __init__(self, *args, **kwargs):
        # New clients start reading everything; the admin narrows or widens it.
        kwargs.setdefault("scopes", ["read"])
        super().__init__(*args, **kwargs)

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if ApiClient.objects.filter(name__iexact=name).exists():
            raise forms.ValidationError(_("An API client with this name already exists."))
        return name


class ApiClientEditForm(ScopeGridForm):
    """Scopes and rate limit of an existing client; name and role stay as created."""
