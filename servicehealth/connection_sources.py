"""A feed source for every customer, through the partner's Microsoft connection.

Run before each sweep of due sources (``servicehealth.tasks.poll_due_sources``) and by
``poll_feeds``: once the connection is ready, every customer whose tenant has no feed source
gets a delegated one, so no one types them in. A customer the connection does not reach (no
GDAP relationship, no role, no consent) still gets one: its first poll records why ("needs
consent", "no access: needs role …") where the Feeds page and the customer's page show it.
Hand-added sources stay as they are: a tenant has one source.
"""

import logging

from django.utils import timezone

from customers.models import Customer
from microsoft.services import get_connection
from servicehealth.models import AuthMode, FeedSource

logger = logging.getLogger(__name__)


def add_missing(now=None):
    """Create the missing delegated sources; returns how many (racing another scheduler, some
    may have been its)."""
    connection = get_connection()
    if connection.state != connection.State.CONNECTED:
        return 0
    now = now or timezone.now()
    partner_tenant = connection.tenant_id
    customers = (
        Customer.objects.exclude(tenant_id__in=FeedSource.objects.values("tenant_id"))
        .exclude(tenant_id=partner_tenant)
        .only("pk", "tenant_id", "company_name")
        .order_by("company_name", "pk")
    )
    new = [
        FeedSource(
            name=customer.company_name,
            customer=customer,
            tenant_id=customer.tenant_id,
            auth_mode=AuthMode.DELEGATED,
            next_poll_at=now,
        )
        for customer in customers
    ]
    # Two schedulers at once: the tenant's unique constraint keeps one of each.
    created = FeedSource.objects.bulk_create(new, ignore_conflicts=True)
    if created:
        logger.info("added %s feed sources through the Microsoft connection", len(created))
    return len(created)
