"""What the apps' forms share."""

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _


def apply_errors(form, exc):
    """A service's ``ValidationError`` on the form: errors on fields the form shows go next to
    them, any other at the top."""
    for field, errors in exc.update_error_dict({}).items():
        form.add_error(field if field in form.fields else None, errors)


def save_through(request, form, instance, create, update, **fields):
    """Add (``instance`` None) or change an object through its app's service, which validates
    and audits, as the request's user: the saved object, or None with the service's errors on
    the form."""
    try:
        if instance is None:
            return create(actor=request.user, request=request, **fields)
        return update(instance, actor=request.user, request=request, **fields)
    except ValidationError as exc:
        apply_errors(form, exc)
        return None


def secret_field(label, help_text="", max_length=4000):
    """A write-only secret: never rendered back, never offered by a password manager."""
    return forms.CharField(
        label=label,
        required=False,
        strip=False,
        max_length=max_length,
        help_text=help_text,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )


def client_id_field(help_text=""):
    """An app registration's client id. No password manager should offer a person's login for
    the app's id and secret."""
    return forms.CharField(
        label=_("Client id"),
        max_length=100,
        help_text=help_text,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
