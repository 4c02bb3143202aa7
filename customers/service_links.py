""" "Administer services": each Microsoft admin portal, opened for one customer tenant.

One declared table: which service families make a portal relevant, and its URL for a tenant.
The partner's delegated (GDAP) access decides what the agent can do once there.
"""

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from customers.models import ServiceFamilyChoices as Family


@dataclass(frozen=True)
class AdminPortal:
    key: str
    name: str
    url_template: str
    families: frozenset

    def url_for(self, customer):
        return self.url_template.format(
            tenant_id=customer.tenant_id,
            domain=customer.default_domain,
            onmicrosoft_prefix=_onmicrosoft_prefix(customer),
        )


def _onmicrosoft_prefix(customer):
    """``contoso`` of ``contoso.onmicrosoft.com``, which names the SharePoint admin site."""
    for domain in customer.all_domains:
        if domain.endswith(".onmicrosoft.com") and domain.count(".") == 2:
            return domain.split(".", 1)[0]
    return None


M365 = frozenset({Family.MICROSOFT_365})
ANY = frozenset(Family)

ADMIN_PORTALS = [
    AdminPortal(
        "m365",
        _("Microsoft 365 admin center"),
        "https://admin.microsoft.com/Partner/BeginClientSession.aspx?CTID={tenant_id}&CSDEST=o365admincenter",
        M365,
    ),
    AdminPortal(
        "exchange",
        _("Exchange admin center"),
        "https://admin.exchange.microsoft.com/?landingpage=homepage&delegatedOrg={domain}",
        M365,
    ),
    AdminPortal(
        "teams",
        _("Teams admin center"),
        "https://admin.teams.microsoft.com/?delegatedOrg={domain}",
        M365,
    ),
    AdminPortal(
        "sharepoint",
        _("SharePoint admin center"),
        "https://{onmicrosoft_prefix}-admin.sharepoint.com/",
        M365,
    ),
    AdminPortal(
        "entra",
        _("Microsoft Entra admin center"),
        "https://entra.microsoft.com/{tenant_id}",
        ANY,
    ),
    AdminPortal(
        "intune",
        _("Microsoft Intune admin center"),
        "https://intune.microsoft.com/{tenant_id}",
        frozenset({Family.MICROSOFT_365, Family.WINDOWS}),
    ),
    AdminPortal(
        "azure",
        _("Azure portal"),
        "https://portal.azure.com/#@{tenant_id}",
        frozenset({Family.AZURE}),
    ),
    AdminPortal(
        "dynamics",
        _("Dynamics 365 admin center"),
        "https://admin.powerplatform.microsoft.com/environments?tenantId={tenant_id}",
        frozenset({Family.DYNAMICS_365}),
    ),
    AdminPortal(
        "power_platform",
        _("Power Platform admin center"),
        "https://admin.powerplatform.microsoft.com/home?tenantId={tenant_id}",
        frozenset({Family.POWER_PLATFORM, Family.DYNAMICS_365}),
    ),
]


def links_for(customer, families):
    """``[(portal, url)]`` for the service families the customer has."""
    links = []
    for portal in ADMIN_PORTALS:
        if not portal.families & set(families):
            continue
        if "{onmicrosoft_prefix}" in portal.url_template and not _onmicrosoft_prefix(customer):
            continue  # without the initial domain the SharePoint admin site is unknown
        links.append((portal, portal.url_for(customer)))
    return links
