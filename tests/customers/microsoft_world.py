"""The partner's customers as Microsoft knows them, in the simulators, for the sync's tests."""

import uuid
from contextlib import contextmanager
from dataclasses import dataclass

from django.db.models import Model

from core.models import AuditEntry
from customers.models import Customer, Subscription
from microsoft.models import MicrosoftConnection
from simulators.graph import (
    GraphSimulator,
    PartnerTenant,
    delegated_admin_customer_json,
    service_management_detail_json,
)
from simulators.http import SimulatorServer
from simulators.partner_center.customers import SimulatedSubscription
from simulators.partner_center.server import PartnerCenterSimulator
from tests.microsoft.helpers import connect


@dataclass
class MicrosoftWorld:
    entra: object
    partner_center: object
    graph: object

    def add_partner_center_customer(self, name, *, tenant_id=None, subscriptions=(), **more):
        """A customer Partner Center lists; returns its tenant id (a str)."""
        tenant_id = str(tenant_id or uuid.uuid4())
        slug = "".join(ch for ch in name.lower() if ch.isalnum())[:20]
        more.setdefault("domain", f"{slug}.onmicrosoft.com")
        subscriptions = [
            s if isinstance(s, SimulatedSubscription) else SimulatedSubscription(s)
            for s in subscriptions
        ]
        self.partner_center.customers.add(tenant_id, name, subscriptions=subscriptions, **more)
        return tenant_id

    def add_gdap_customer(self, name, *, tenant_id=None, links=(), sharepoint_host=None):
        """A customer tenant Graph lists under delegatedAdminCustomers; ``links``:
        (service name, URL) pairs Microsoft gives for it; ``sharepoint_host``: its root site's
        host (the partner user reaches the tenant through GDAP)."""
        tenant_id = str(tenant_id or uuid.uuid4())
        partner = self.graph.partner
        partner.customers.append(
            delegated_admin_customer_json(tenant_id=tenant_id, display_name=name)
        )
        partner.service_management[tenant_id] = [
            service_management_detail_json(service_name=service, url=url) for service, url in links
        ]
        if sharepoint_host:
            partner.sharepoint_hosts[tenant_id] = sharepoint_host
            self.entra.add_customer_tenant(tenant_id)
        return tenant_id


@contextmanager
def serving(entra, page_size=2):
    """The partner's Microsoft connection, connected to the Entra ID simulator ``entra``, with
    Partner Center and Graph simulators that accept only the tokens it minted, on loopback."""
    partner_center = PartnerCenterSimulator(token=None, entra=entra)
    partner_center.customers.page_size = page_size
    partner = PartnerTenant(entra.tenant_id, entra.client_id, entra.client_secret)
    graph = GraphSimulator(partner, page_size=page_size, entra=entra)
    with SimulatorServer(partner_center) as pc_server, SimulatorServer(graph) as graph_server:
        connect(entra)
        MicrosoftConnection.objects.filter(pk=1).update(
            partner_center_url=pc_server.url, graph_url=graph_server.url
        )
        yield MicrosoftWorld(entra, partner_center, graph)


def snapshot():
    """Everything the sync could write: customers, subscriptions and the audit log."""

    def rows(model: type[Model]):
        return sorted(
            tuple(sorted((k, str(v)) for k, v in row.items())) for row in model.objects.values()
        )

    return rows(Customer), rows(Subscription), AuditEntry.objects.count()
