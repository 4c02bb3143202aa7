"""Serve the bundled Microsoft API simulators for `make run`. Never in production."""

import signal
import threading
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from customers.models import Customer, DelegatedAdminRelationship
from demo.integrations import PSA_WEBHOOK_SECRET
from demo.microsoft import DEMO_REFRESH_TOKEN
from demo.partner_center import serve_customers
from demo.servicehealth import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_PARTNER_TENANT
from demo.servicerequests import PARTNER_CENTER_TOKEN, WEBHOOK_SECRET
from demo.sso import add_demo_user
from servicehealth.models import FeedSource
from simulators.entra import EntraSimulator
from simulators.graph import GraphSimulator, PartnerTenant, assignment_json, relationship_json
from simulators.http import SimulatorServer
from simulators.partner_center.server import PartnerCenterSimulator
from simulators.psa_webhooks import PsaWebhookReceiver
from simulators.service_health import scenarios as service_health_scenarios
from simulators.service_health.messages import publish_demo_messages
from simulators.webhook_receiver import WebhookReceiver


def demo_partner_tenant():
    """The partner tenant as Graph would show it: today's relationships in the database, with
    pending ones approved after a minute, so a sync in `make run` has something to learn."""
    partner = PartnerTenant(DEMO_PARTNER_TENANT, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)
    relationships = DelegatedAdminRelationship.objects.select_related("customer").prefetch_related(
        "access_assignments"
    )
    for relationship in relationships:
        partner.relationships.append(
            relationship_json(
                relationship_id=relationship.microsoft_id,
                display_name=relationship.display_name,
                customer_name=relationship.customer.company_name,
                customer_tenant_id=relationship.customer.tenant_id,
                status=relationship.status,
                roles=relationship.roles,
                duration=relationship.duration,
                auto_extend=relationship.auto_extend_duration,
                created=relationship.created_on,
                activated=relationship.activated_on,
                ends=relationship.ends_on,
                modified=relationship.last_modified_on,
            )
        )
        partner.assignments[relationship.microsoft_id] = [
            assignment_json(
                assignment_id=a.microsoft_id,
                group_id=a.security_group_id,
                roles=a.roles,
                status=a.status,
                created=a.created_on,
                modified=a.last_modified_on,
            )
            for a in relationship.access_assignments.all()
        ]
        if relationship.status in ("approvalPending", "approved", "activating"):
            partner.progressions[relationship.microsoft_id] = (
                timedelta(minutes=1).total_seconds(),
                "active",
            )
    return partner


class Command(BaseCommand):
    help = (
        "Serve the Microsoft API simulators on loopback (development only): GDAP relationships "
        "of the partner tenant on --port, service communications of the demo feed sources' "
        "tenants on --port + 1, Partner Center service requests on --port + 2, a support "
        "desk's webhook receiver on --port + 3, a PSA's receiver of the portal's webhooks "
        "on --port + 4 and Entra ID's token endpoint for the partner tenant on --port + 5."
    )

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8001)

    def handle(self, *args, port, **options):
        if not settings.SIMULATORS_ENABLED:
            raise CommandError("The simulators are never served in production.")
        entra = EntraSimulator(
            tenant_id=DEMO_PARTNER_TENANT,
            client_id=DEMO_CLIENT_ID,
            client_secret=DEMO_CLIENT_SECRET,
        )
        entra.issue_refresh_token(DEMO_REFRESH_TOKEN)
        add_demo_user(entra)  # "Sign in with Microsoft" signs this person in at once
        # Every customer, not only those with a source yet: the scheduler adds theirs.
        tenants = list(
            dict.fromkeys(
                [
                    DEMO_PARTNER_TENANT,
                    *(str(t) for t in FeedSource.objects.values_list("tenant_id", flat=True)),
                    *(str(t) for t in Customer.objects.values_list("tenant_id", flat=True)),
                ]
            )
        )
        for tenant_id in tenants[1:]:
            entra.add_customer_tenant(tenant_id)
        gdap = GraphSimulator(demo_partner_tenant(), entra=entra)
        # One Graph host, as Microsoft's: service communications (read through the connection)
        # and GDAP on --port; service communications alone on --port + 1 for older demo sources.
        health = service_health_scenarios.demo(
            tenants,
            secret=DEMO_CLIENT_SECRET,
            client_id=DEMO_CLIENT_ID,
            entra=entra,
            other_graph=gdap,
        )
        publish_demo_messages(health, tenants[1:] or [DEMO_PARTNER_TENANT])
        health_server = SimulatorServer(health, port=port + 1)
        # Last, so the links both simulators write point at the connection's Graph URL.
        gdap_server = SimulatorServer(health, port=port)
        receiver = WebhookReceiver(secret=WEBHOOK_SECRET, latency=(0.05, 0.4))
        receiver_server = SimulatorServer(receiver, port=port + 3)
        psa = PsaWebhookReceiver(secret=PSA_WEBHOOK_SECRET, latency=(0.02, 0.2))
        psa_server = SimulatorServer(psa, port=port + 4)
        entra_server = SimulatorServer(entra, port=port + 5)
        # The connection's App+User tokens; the pasted demo token of older demo databases too.
        partner_center = PartnerCenterSimulator(token=PARTNER_CENTER_TOKEN, entra=entra)
        serve_customers(partner_center, gdap.partner)
        partner_center_server = SimulatorServer(partner_center, port=port + 2)
        servers = [
            gdap_server,
            health_server,
            partner_center_server,
            receiver_server,
            psa_server,
            entra_server,
        ]
        for server in servers:
            server.start()
        self.stdout.write(
            f"Graph simulator (GDAP) on {gdap_server.url}/v1.0: partner tenant "
            f"{DEMO_PARTNER_TENANT}, {len(gdap.partner.relationships)} relationships"
        )
        self.stdout.write(
            f"Graph simulator (service health) on {health_server.url}/v1.0: "
            f"{len(tenants)} tenants, {len(health.issues)} issues progressing over time, "
            f"{len(health.messages)} Message center posts"
        )
        self.stdout.write(
            f"Partner Center simulator on {partner_center_server.url} (requests move to "
            f"attention needed after 10 minutes, closed after 30); support desk webhook "
            f"receiver on {receiver_server.url}"
        )
        self.stdout.write(f"PSA webhook receiver (Standard Webhooks) on {psa_server.url}")
        self.stdout.write(f"Entra ID simulator (the partner's refresh token) on {entra_server.url}")
        stopped = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stopped.set())
        stopped.wait()
        # Each server lets its simulator's held answers go before it stops.
        for server in servers:
            server.stop()
