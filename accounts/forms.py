from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from accounts.models import ApiClient, User
from accounts.roles import Role


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

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["roles"].choices = role_choices_for(actor)


class ProfileForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ["full_name", "language"]
        labels = {"full_name": _("Full name"), "language": _("Language")}


class ApiClientForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100, help_text=_("For example: ConnectWise"))
    role = forms.ChoiceField(
        label=_("Role"),
        choices=Role.choices,
        initial=Role.HELPDESK_AGENT,
        help_text=_("The client may do what a person with this role may do."),
    )
    scopes = forms.MultipleChoiceField(
        label=_("Scopes"),
        choices=ApiClient.Scope.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=[ApiClient.Scope.READ],
    )

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if ApiClient.objects.filter(name__iexact=name).exists():
            raise forms.ValidationError(_("An API client with this name already exists."))
        return name
