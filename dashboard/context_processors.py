from functools import lru_cache

from django.conf import settings
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils.translation import gettext_lazy as _

from accounts.middleware import enrolment_pending
from accounts.roles import Capability
from microsoft.models import MicrosoftConnection

MAIN, MORE = "main", "more"
# (url name, label, capability needed (None: any user with a role), group). Daily work goes in
# the bar; administration goes under "More", so the bar stays one line.
NAVIGATION = [
    ("dashboard:index", _("Dashboard"), None, MAIN),
    ("customers:list", _("Customers"), Capability.VIEW_SUPPORT, MAIN),
    ("servicehealth:dashboard", _("Service health"), Capability.VIEW_SUPPORT, MAIN),
    ("incidents:list", _("Incidents"), Capability.VIEW_SUPPORT, MAIN),
    ("messagecenter:list", _("Message center"), Capability.VIEW_SUPPORT, MAIN),
    ("servicerequests:list", _("Service requests"), Capability.VIEW_SUPPORT, MAIN),
    ("customers:expiring_access", _("Expiring access"), Capability.VIEW_SUPPORT, MORE),
    ("accounts:staff_list", _("Staff"), Capability.MANAGE_STAFF, MAIN),
    ("dashboard:events", _("Events"), Capability.VIEW_SUPPORT, MORE),
    ("servicehealth:feed_list", _("Feeds"), Capability.MANAGE_INTEGRATIONS, MORE),
    ("servicerequests:channel_list", _("Support channels"), Capability.MANAGE_INTEGRATIONS, MORE),
    ("servicerequests:rule_list", _("Routing"), Capability.MANAGE_INTEGRATIONS, MORE),
    ("microsoft:connection", _("Microsoft connection"), Capability.MANAGE_INTEGRATIONS, MORE),
    ("sso:settings", _("Sign-in with Microsoft"), Capability.MANAGE_INTEGRATIONS, MORE),
    ("accounts:api_client_list", _("API clients"), Capability.MANAGE_INTEGRATIONS, MORE),
    ("integrations:webhook_list", _("Webhooks"), Capability.MANAGE_INTEGRATIONS, MORE),
    ("integrations:psa_list", _("PSA connections"), Capability.MANAGE_INTEGRATIONS, MORE),
    ("dashboard:audit_log", _("Audit log"), Capability.VIEW_AUDIT_LOG, MORE),
    ("api-v1:docs", _("API documentation"), None, MORE),
]


@lru_cache(maxsize=8)
def _menu_urls(urlconf, script_prefix):
    """Each menu entry's URL, the same on every request under one URLconf and script prefix
    (the arguments, which reverse() reads from the request's thread): reversed once, not on
    every page."""
    return {url_name: reverse(url_name, urlconf=urlconf) for url_name, *_rest in NAVIGATION}


def navigation(request):
    """The menu, holding only what the user's roles allow (the views check again)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"navigation": []}
    if enrolment_pending(request):
        # Every link would lead back to the enrolment page (MFA_REQUIRED): show none.
        return {"navigation": [], "mfa_enrolment_pending": True}
    capabilities = user.capabilities
    urls = _menu_urls(get_urlconf() or settings.ROOT_URLCONF, get_script_prefix())
    items = []
    for url_name, label, capability, group in NAVIGATION:
        allowed = capability in capabilities if capability else bool(capabilities)
        if allowed:
            url = urls[url_name]
            items.append(
                {
                    "url": url,
                    "label": label,
                    "group": group,
                    "active": request.path.startswith(url) if url != "/" else request.path == "/",
                }
            )
    return {
        "navigation": items,
        "navigation_main": [item for item in items if item["group"] == MAIN],
        "navigation_more": [item for item in items if item["group"] == MORE],
        "user_capabilities": {c.value for c in capabilities},
        "microsoft_connection_alert": _connection_alert(capabilities),
    }


def _connection_alert(capabilities):
    """What Global admins are told on every page: the connection is broken, or its refresh
    token runs out within two weeks (the weekly redemption has been failing). None otherwise."""
    if Capability.MANAGE_INTEGRATIONS not in capabilities:
        return None
    # Only what the banner reads: not the secrets and tokens, on every page.
    connection = (
        MicrosoftConnection.objects.filter(pk=1).only("state", "refresh_expires_at").first()
    )
    if connection is None:
        return None
    if connection.state == MicrosoftConnection.State.BROKEN:
        return {"broken": True}
    if connection.state == MicrosoftConnection.State.CONNECTED and connection.expires_soon:
        return {"broken": False, "expires_at": connection.refresh_expires_at}
    return None
