"""Demo feed sources for `make run`: the partner's own tenant and 25 customers, read from the
bundled service-communications simulator (served by `manage.py run_simulators`)."""

from django.conf import settings

from customers.models import Customer
from servicehealth.models import FeedSource

DEMO_PARTNER_TENANT = "7b0c1f4e-2a5d-4c8b-9e3f-1d6a8b4c2e90"
DEMO_CLIENT_ID = "partner-portal-demo"
DEMO_CLIENT_SECRET = "demo-graph-secret"  # noqa: S105 - the simulator's own demo credential
SIMULATOR_URL = "http://127.0.0.1:8002"
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
        source = FeedSource(
            name=f"{name} (simulated)",
            customer=customer,
            tenant_id=tenant_id,
            base_url=f"{SIMULATOR_URL}/v1.0",
            token_url=SIMULATOR_URL + "/{tenant_id}/oauth2/v2.0/token",
            client_id=DEMO_CLIENT_ID,
            poll_interval_seconds=60,
        )
        source.client_secret = DEMO_CLIENT_SECRET
        source.save()
        created += 1
    return [f"Demo feed sources: {created} created, {len(targets) - created} already there."]
