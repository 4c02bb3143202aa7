""" "Administer services": each Microsoft admin portal, opened for one customer tenant.

One declared table: which service families make a portal relevant, and its URL for a tenant,
in the forms partner tools use: by the tenant's initial ``onmicrosoft.com`` domain (from Partner
Center) or by its tenant id. SharePoint's admin URL is never guessed from a domain: it is the one
Graph gave for the tenant's root site (stored by the sync). Where Microsoft returned a link for
a portal (GDAP ``serviceManagementDetails``), that link is used instead, and Microsoft's links to
portals not in the table are listed too. The partner's delegated (GDAP) access decides what the
agent can do once there.
"""

from dataclasses import dataclass
from urllib.parse import quote

from django.utils.translation import gettext_lazy as _

from customers.models import ServiceFamilyChoices as Family

INITIAL_DOMAIN = "initial_domain"
TENANT_ID = "tenant_id"
SHAREPOINT = "sharepoint_admin_url"


@dataclass(frozen=True)
class AdminPortal:
    key: str
    name: str
    # The URL up to where the tenant goes, and what goes there (INITIAL_DOMAIN, TENANT_ID), or
    # SHAREPOINT: the URL the sync stored.
    prefix: str
    needs: str
    families: frozenset
    # Microsoft's serviceName values for this portal, lower-case.
    microsoft_names: tuple = ()


@dataclass(frozen=True)
class ServiceLink:
    name: str
    url: str
    from_microsoft: bool = False


M365 = frozenset({Family.MICROSOFT_365})
ANY = frozenset(Family)

ADMIN_PORTALS = [
    AdminPortal(
        "m365",
        _("Microsoft 365 admin center"),
        "https://admin.cloud.microsoft/?delegatedOrg=",
        INITIAL_DOMAIN,
        M365,
        ("microsoft 365", "office 365", "microsoft 365 admin center"),
    ),
    AdminPortal(
        "exchange",
        _("Exchange admin center"),
        "https://admin.cloud.microsoft/exchange?delegatedOrg=",
        INITIAL_DOMAIN,
        M365,
        ("exchange", "exchange online"),
    ),
    AdminPortal(
        "teams",
        _("Teams admin center"),
        "https://admin.teams.microsoft.com/?delegatedOrg=",
        INITIAL_DOMAIN,
        M365,
        ("teams", "microsoft teams"),
    ),
    AdminPortal(
        "sharepoint",
        _("SharePoint admin center"),
        "",
        SHAREPOINT,
        M365,
        ("sharepoint", "sharepoint online"),
    ),
    AdminPortal(
        "entra",
        _("Microsoft Entra admin center"),
        "https://entra.microsoft.com/",
        TENANT_ID,
        ANY,
        ("azure active directory", "microsoft entra id", "microsoft entra"),
    ),
    AdminPortal(
        "intune",
        _("Microsoft Intune admin center"),
        "https://intune.microsoft.com/",
        TENANT_ID,
        frozenset({Family.MICROSOFT_365, Family.WINDOWS}),
        ("intune", "microsoft intune"),
    ),
    AdminPortal(
        "azure",
        _("Azure portal"),
        "https://portal.azure.com/",
        TENANT_ID,
        frozenset({Family.AZURE}),
        ("azure", "microsoft azure"),
    ),
    AdminPortal(
        "security",
        _("Microsoft Defender portal"),
        "https://security.microsoft.com/?tid=",
        TENANT_ID,
        frozenset({Family.MICROSOFT_365, Family.WINDOWS}),
        ("microsoft defender", "microsoft 365 defender", "security"),
    ),
    AdminPortal(
        "purview",
        _("Microsoft Purview portal"),
        "https://purview.microsoft.com/?tid=",
        TENANT_ID,
        M365,
        ("purview", "microsoft purview"),
    ),
    AdminPortal(
        "power_platform",
        _("Power Platform admin center"),
        "https://admin.powerplatform.microsoft.com/account/login/",
        TENANT_ID,
        frozenset({Family.POWER_PLATFORM, Family.DYNAMICS_365}),
        ("power platform", "microsoft power platform"),
    ),
]


def initial_domain(customer):
    """The tenant's initial domain: from Partner Center, else an ``x.onmicrosoft.com`` domain
    typed in for it."""
    if customer.initial_domain:
        return customer.initial_domain
    for domain in customer.all_domains:
        if domain.endswith(".onmicrosoft.com") and domain.count(".") == 2:
            return domain
    return ""


def portal_url(portal, customer):
    """The portal's URL for ``customer``; empty when what it needs is unknown."""
    if portal.needs == SHAREPOINT:
        return customer.sharepoint_admin_url
    value = initial_domain(customer) if portal.needs == INITIAL_DOMAIN else str(customer.tenant_id)
    return portal.prefix + quote(value, safe=".-") if value else ""


def _microsoft_portal(service_name):
    name = service_name.strip().lower()
    for portal in ADMIN_PORTALS:
        if name in portal.microsoft_names:
            return portal
    return None


def links_for(customer, families):
    """The ServiceLinks for the service families the customer has, Microsoft's first choice."""
    from_microsoft = {}
    extra = []
    for link in customer.microsoft_links or []:
        portal = _microsoft_portal(link["service"])
        if portal is None:
            extra.append(ServiceLink(link["service"], link["url"], from_microsoft=True))
        else:
            from_microsoft.setdefault(portal.key, link["url"])
    links = []
    for portal in ADMIN_PORTALS:
        url = from_microsoft.get(portal.key)
        if url is None and portal.families & set(families):
            url = portal_url(portal, customer)
        if url:
            links.append(ServiceLink(str(portal.name), url, portal.key in from_microsoft))
    return links + extra
