from allauth.socialaccount.adapter import get_adapter
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from accounts.permissions import capability_required
from accounts.roles import Capability, Role
from sso import services, testing
from sso.forms import SsoSettingsForm
from sso.models import APP_ROLES, SsoSettings
from sso.oidc import PROVIDER_ID

# Only Global admins hold it: who signs in, and as what, is decided here.
MANAGE = Capability.MANAGE_INTEGRATIONS


@capability_required(MANAGE, MANAGE, form_page=True)
def settings_page(request):
    settings = SsoSettings.get()
    form = SsoSettingsForm(request.POST if request.method == "POST" else None, settings=settings)
    if request.method == "POST" and form.is_valid():
        try:
            services.update_settings(
                actor=request.user,
                values=form.values(),
                client_secret=form.cleaned_data["client_secret"] or None,
                request=request,
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("The sign-in settings are saved."))
            return redirect("sso:settings")
    context = {
        "form": form,
        "settings": settings,
        "redirect_uri": request.build_absolute_uri(
            reverse("openid_connect_callback", kwargs={"provider_id": PROVIDER_ID})
        ),
        "app_roles": [(value, Role(role).label) for value, role in APP_ROLES.items()],
    }
    return render(request, "sso/settings.html", context)


@capability_required(MANAGE, MANAGE, form_page=True)
def test_start(request):
    """Start a test sign-in. A link rather than a form: the CSP allows forms to post only to
    the portal, and this answer leaves it."""
    if not SsoSettings.get().configured:
        messages.error(request, _("Save the tenant, client id and secret first."))
        return redirect("sso:settings")
    provider = get_adapter(request).get_provider(request, PROVIDER_ID)
    return testing.start(request, provider)


@capability_required(MANAGE, MANAGE, form_page=True)
def test_result(request):
    return render(request, "sso/test_result.html", {"result": testing.result(request)})
