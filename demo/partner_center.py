"""The demo's customers as Microsoft knows them, for `make run`'s simulators.

Partner Center lists every demo customer (same tenant ids, with its initial onmicrosoft.com
domain, custom domains and subscriptions) and two that only exist there; Graph lists the
customers with a GDAP relationship, a few with Microsoft's own admin links, and their root sites.
So "Sync now" on the customer list adds two customers and fills in what only Microsoft knows
(initial domains, SharePoint admin URLs) for the others.
"""

import uuid

from customers.models import Customer, DelegatedAdminRelationship
from simulators.graph import delegated_admin_customer_json, service_management_detail_json
from simulators.partner_center.customers import SimulatedSubscription

NAMESPACE = uuid.UUID("0b7f5c1e-3d2a-4e8f-9a61-2c4d8e0f1a37")
ONLY_IN_PARTNER_CENTER = [
    ("Kuzey Lojistik A.Ş.", "kuzeylojistik", "TR", ["kuzeylojistik.com.tr"]),
    ("Rheinufer Apotheke GmbH", "rheinuferapotheke", "DE", ["rheinufer-apotheke.de"]),
]
PRODUCT_TYPES = {"azure": "Azure"}


def _initial_domain(customer):
    return f"{customer.default_domain.split('.')[0].replace('-', '')}.onmicrosoft.com"


def serve_customers(partner_center, partner):
    """Fill the Partner Center simulator's customers and the GDAP ``partner`` (a
    simulators.graph.PartnerTenant) from the demo database."""
    customers = Customer.objects.prefetch_related("subscriptions").order_by("company_name", "pk")
    with_gdap = set(
        DelegatedAdminRelationship.objects.values_list("customer_id", flat=True).distinct()
    )
    for index, customer in enumerate(customers):
        initial = customer.initial_domain or _initial_domain(customer)
        partner_center.customers.add(
            customer.tenant_id,
            customer.company_name,
            initial,
            country=customer.country or "TR",
            custom_domains=[d for d in customer.all_domains if d and d != initial],
            subscriptions=[
                SimulatedSubscription(
                    s.offer_name,
                    quantity=s.quantity,
                    status=s.status,
                    product_type=PRODUCT_TYPES.get(s.service_family, "OnlineServicesNCE"),
                    id=str(uuid.uuid5(NAMESPACE, f"subscription:{s.pk}")),
                )
                for s in customer.subscriptions.all()
            ],
        )
        if customer.pk not in with_gdap:
            continue
        tenant_id = str(customer.tenant_id)
        partner.customers.append(
            delegated_admin_customer_json(tenant_id=tenant_id, display_name=customer.company_name)
        )
        partner.sharepoint_hosts[tenant_id] = f"{initial.split('.')[0]}.sharepoint.com"
        if index % 5 == 0:  # Microsoft gives its own links for some customers
            partner.service_management[tenant_id] = [
                service_management_detail_json(
                    service_name="Teams",
                    url=f"https://admin.teams.microsoft.com/?delegatedOrg={initial}",
                ),
                service_management_detail_json(
                    service_name="Microsoft 365 Lighthouse", url="https://lighthouse.microsoft.com"
                ),
            ]
    for name, slug, country, domains in ONLY_IN_PARTNER_CENTER:
        partner_center.customers.add(
            uuid.uuid5(NAMESPACE, slug),
            name,
            f"{slug}.onmicrosoft.com",
            country=country,
            custom_domains=domains,
            subscriptions=[
                SimulatedSubscription(offer, id=str(uuid.uuid5(NAMESPACE, f"{slug}:{offer}")))
                for offer in ("Microsoft 365 Business Premium", "Microsoft 365 E3")
            ],
        )
