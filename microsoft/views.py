from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.permissions import capability_required
from accounts.roles import Capability
from microsoft import consent, probes, services
from microsoft.forms import ConnectionSettingsForm
from microsoft.models import MicrosoftConnection
from outbound.entra import EntraError

# Only Global admins hold it: the connection acts as the partner in Microsoft's APIs.
MANAGE = Capability.MANAGE_INTEGRATIONS


@capability_required(MANAGE, MANAGE, form_page=True)
def connection_page(request):
    """The connection's state, and the form for the app registration's settings."""
    connection = MicrosoftConnection.get()
    form = ConnectionSettingsForm(
        request.POST if request.method == "POST" else None, connection=connection
    )
    if request.method == "POST" and form.is_valid():
        services.update_settings(
            actor=request.user,
            settings=form.settings(),
            client_secret=form.cleaned_data["client_secret"] or None,
            request=request,
        )
        messages.success(request, _("The Microsoft connection's settings are saved."))
        return redirect("microsoft:connection")
    context = {
        "form": form,
        "connection": connection,
        "probes": probes.PROBES,
        "redirect_uri": consent.redirect_uri(),
    }
    return render(request, "microsoft/connection.html", context)


@capability_required(MANAGE, MANAGE, form_page=True)
def consent_start(request):
    """Send the admin to Microsoft to sign in and consent. A link rather than a form: the CSP
    allows forms to post only to the portal, and this answer leaves it."""
    try:
        return redirect(consent.start(request.session))
    except consent.ConsentError as exc:
        messages.error(request, str(exc))
        return redirect("microsoft:connection")


@capability_required(MANAGE, MANAGE, form_page=True)
def consent_callback(request):
    """Microsoft's answer to the sign-in started by ``consent_start``."""
    try:
        consent.finish(request.session, request.GET, actor=request.user, request=request)
    except consent.ConsentError as exc:
        messages.error(request, _("The connection was not made: %(reason)s") % {"reason": exc})
    else:
        messages.success(request, _("Connected: the partner's consent is stored."))
    return redirect("microsoft:connection")


@require_POST
@capability_required(MANAGE, MANAGE)
def test_api(request, api):
    """One cheap call to ``api`` as the partner; the answer is shown, nothing is stored."""
    if api not in probes.PROBES:
        raise Http404
    result = probes.run(api)
    (messages.success if result.ok else messages.error)(request, result.message)
    return redirect("microsoft:connection")


@require_POST
@capability_required(MANAGE, MANAGE)
def redeem_now(request):
    """Redeem the refresh token now: proves the connection and restarts its 90 days."""
    try:
        services.redeem_refresh_token(actor=request.user, request=request)
    except services.NotConnected as exc:
        messages.error(request, str(exc))
    except EntraError as exc:
        messages.error(request, _("The refresh failed: %(error)s") % {"error": exc})
    else:
        messages.success(request, _("The refresh token was redeemed and renewed."))
    return redirect("microsoft:connection")
