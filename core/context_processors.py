from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from accounts.roles import Capability

# (url name, label, capability needed; None = any user with at least one capability)
NAVIGATION = [
    ("core:dashboard", _("Dashboard"), None),
    ("customers:list", _("Customers"), Capability.VIEW_SUPPORT),
    ("customers:expiring_access", _("Expiring access"), Capability.VIEW_SUPPORT),
    ("accounts:staff_list", _("Staff"), Capability.MANAGE_STAFF),
    ("accounts:api_client_list", _("API clients"), Capability.MANAGE_INTEGRATIONS),
    ("core:audit_log", _("Audit log"), Capability.VIEW_AUDIT_LOG),
    ("api-v1:docs", _("API"), None),
]


def navigation(request):
    """The menu, holding only what the user's roles allow (the views check again)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"navigation": []}
    capabilities = user.capabilities
    items = []
    for url_name, label, capability in NAVIGATION:
        allowed = capability in capabilities if capability else bool(capabilities)
        if allowed:
            url = reverse(url_name)
            items.append(
                {
                    "url": url,
                    "label": label,
                    "active": request.path.startswith(url) if url != "/" else request.path == "/",
                }
            )
    return {"navigation": items, "user_capabilities": {c.value for c in capabilities}}
