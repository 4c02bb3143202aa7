"""Demo feed sources for `make run`: the partner's own tenant and 25 customers, read through the
demo's Microsoft connection (demo/microsoft.py: the Entra ID simulator redeems the partner's
token in each tenant, and the service-communications simulator that `manage.py run_simulators`
serves on the connection's Graph URL accepts it). The other customers get theirs from the
scheduler, as in production (servicehealth.connection_sources)."""

from django.conf import settings

from customers.models import Customer
from servicehealth.models import AuthMode, FeedSource

DEMO_PARTNER_TENANT = "7b0c1f4e-2a5d-4c8b-9e3f-1d6a8b4c2e90"
DEMO_CLIENT_ID = "partner-portal-demo"
DEMO_CLIENT_SECRET = "demo-graph-secret"  # noqa: S105 - the simulator's own demo credential
CUSTOMERS_WITH_FEEDS = 25


def load():
    if settings.PRODUCTION:
        raise RuntimeError("Demo data is never loaded in production.")
    created = 0
    customers = list(Customer.objects.order_by("company_name")[:CUSTOMERS_WITH_FEEDS])
    targets = [(None, DEMO_PARTNER_TENANT, "Partner tenant")] + [
        (customer, str(customer.tenant_id), customer.company_name) for customer in customers
    ]
    for customer, tenant_id, name in targets:
        if FeedSource.objects.filter(tenant_id=tenant_id).exists():
            continue
        FeedSource.objects.create(
            name=f"{name} (simulated)",
            customer=customer,
            tenant_id=tenant_id,
            auth_mode=AuthMode.DELEGATED,
            poll_interval_seconds=60,
        )
        created += 1
    return [f"Demo feed sources: {created} created, {len(targets) - created} already there."]
