"""Reading what Partner Center and Graph say about the partner's customers into plain records.

Each function takes one item as Microsoft sends it and returns our record, or None when the item
cannot be read (no tenant id, a wrong shape): the sync counts those and goes on. Nothing here
touches the database.
"""

import re
import uuid
from dataclasses import dataclass, field
from datetime import date

from customers.choices import (
    CustomerRelationshipChoices,
    ServiceFamilyChoices,
    SubscriptionStatusChoices,
)
from customers.models import DOMAIN_PATTERN
from outbound.graph import parse_datetime

# Partner Center's relationshipToPartner values we have a relationship for.
RELATIONSHIPS = {
    "reseller": CustomerRelationshipChoices.RESELLER,
    "indirectreseller": CustomerRelationshipChoices.INDIRECT_RESELLER,
    "indirect_reseller": CustomerRelationshipChoices.INDIRECT_RESELLER,
    "advisor": CustomerRelationshipChoices.DIRECT,
}
# The service family of a subscription, from words in its offer name (first match wins).
FAMILY_WORDS = [
    (ServiceFamilyChoices.AZURE, ("azure",)),
    (ServiceFamilyChoices.DYNAMICS_365, ("dynamics",)),
    (ServiceFamilyChoices.POWER_PLATFORM, ("power bi", "power apps", "power automate", "power")),
    (ServiceFamilyChoices.WINDOWS, ("windows",)),
    (
        ServiceFamilyChoices.MICROSOFT_365,
        (
            "microsoft 365",
            "office 365",
            "exchange",
            "teams",
            "sharepoint",
            "onedrive",
            "intune",
            "enterprise mobility",
            "entra",
            "defender",
            "visio",
            "project",
        ),
    ),
]
SHAREPOINT_HOST = re.compile(r"^([a-z0-9][a-z0-9-]{0,62})\.(sharepoint\.[a-z.]{2,30})$")


@dataclass
class SubscriptionRecord:
    microsoft_id: str
    offer_name: str
    service_family: str
    quantity: int
    status: str
    term_end: date | None

    def fields(self):
        return {
            "offer_name": self.offer_name,
            "service_family": self.service_family,
            "quantity": self.quantity,
            "status": self.status,
            "term_end": self.term_end,
        }


@dataclass
class TenantRecord:
    """One customer tenant as Microsoft knows it. None: not read this run (keep ours)."""

    tenant_id: uuid.UUID
    company_name: str = ""
    initial_domain: str = ""
    other_domains: list = field(default_factory=list)
    country: str = ""
    relationship: str | None = None
    in_partner_center: bool = False
    in_gdap: bool = False
    subscriptions: list = field(default_factory=list)
    microsoft_links: list | None = None
    sharepoint_admin_url: str | None = None
    tenant_access_error: str | None = None


def _tenant_id(value):
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _domain(value):
    text = str(value or "").strip().lower()
    return text if DOMAIN_PATTERN.match(text) else ""


def partner_center_customer(item):
    """A TenantRecord from an item of ``GET /v1/customers``."""
    if not isinstance(item, dict):
        return None
    profile = item.get("companyProfile")
    profile = profile if isinstance(profile, dict) else {}
    tenant_id = _tenant_id(profile.get("tenantId") or item.get("id"))
    if tenant_id is None:
        return None
    relationship = str(item.get("relationshipToPartner") or "").lower()
    return TenantRecord(
        tenant_id=tenant_id,
        company_name=str(profile.get("companyName") or "").strip()[:200],
        initial_domain=_domain(profile.get("domain")),
        relationship=RELATIONSHIPS.get(relationship),
        in_partner_center=True,
    )


def add_customer_details(record, customer):
    """What ``GET /v1/customers/{id}`` adds: its country and custom domains."""
    if not isinstance(customer, dict):
        return
    profile = customer.get("companyProfile")
    address = profile.get("address") if isinstance(profile, dict) else None
    country = (
        str((address or {}).get("country") or "").strip().upper()
        if isinstance(address, dict)
        else ""
    )
    if re.fullmatch(r"[A-Z]{2}", country):
        record.country = country
    domains = customer.get("customDomains")
    if isinstance(domains, list):
        record.other_domains = sorted({d for d in map(_domain, domains) if d})


def _family(item):
    product = item.get("productType")
    if isinstance(product, dict) and str(product.get("id", "")).lower() == "azure":
        return ServiceFamilyChoices.AZURE
    name = str(item.get("offerName") or item.get("friendlyName") or "").lower()
    for family, words in FAMILY_WORDS:
        if any(word in name for word in words):
            return family
    return ServiceFamilyChoices.OTHER


def subscription(item):
    """A SubscriptionRecord from an item of ``GET /v1/customers/{id}/subscriptions``."""
    if not isinstance(item, dict) or not item.get("id"):
        return None
    status = str(item.get("status") or "").lower()
    if status not in SubscriptionStatusChoices.values:
        return None
    try:
        quantity = max(0, int(item.get("quantity", 1)))
    except (TypeError, ValueError):
        return None
    name = str(item.get("offerName") or item.get("friendlyName") or "").strip()
    if not name:
        return None
    ends = parse_datetime(item.get("commitmentEndDate"))
    return SubscriptionRecord(
        microsoft_id=str(item["id"])[:100],
        offer_name=name[:200],
        service_family=_family(item),
        quantity=quantity,
        status=status,
        # Partner Center writes a date never set as the year 1.
        term_end=ends.date() if ends and ends.year > 1 else None,
    )


def gdap_customer(item):
    """``(tenant id, display name)`` from a Graph ``delegatedAdminCustomer``."""
    if not isinstance(item, dict):
        return None
    tenant_id = _tenant_id(item.get("tenantId") or item.get("id"))
    if tenant_id is None:
        return None
    return tenant_id, str(item.get("displayName") or "").strip()[:200]


def service_management_links(items):
    """``[{"service", "url"}]`` from Graph's ``serviceManagementDetails``: https links only."""
    links = []
    for item in items:
        if not isinstance(item, dict):
            continue
        url = str(item.get("serviceManagementUrl") or "")
        name = str(item.get("serviceName") or "").strip()
        if url.startswith("https://") and name and len(url) <= 500:
            links.append({"service": name[:100], "url": url})
    return sorted(links, key=lambda link: link["service"].lower())


def sharepoint_admin_url(site):
    """The SharePoint admin center of the tenant whose root site ``site`` is (Graph's
    ``sites/root``): ``contoso.sharepoint.com`` has ``https://contoso-admin.sharepoint.com/``."""
    collection = site.get("siteCollection") if isinstance(site, dict) else None
    host = (
        str((collection or {}).get("hostname") or "").lower()
        if isinstance(collection, dict)
        else ""
    )
    match = SHAREPOINT_HOST.match(host)
    if not match:
        return None
    return f"https://{match.group(1)}-admin.{match.group(2)}/"
