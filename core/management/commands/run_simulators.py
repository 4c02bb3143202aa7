"""Serve the bundled Microsoft API simulators for `make run`. Never in production."""

import signal
import threading
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from simulators.graph import GraphSimulator, PartnerTenant, assignment_json, relationship_json
from simulators.http import SimulatorServer

DEMO_PARTNER_TENANT = "7b0c1f4e-2a5d-4c8b-9e3f-1d6a8b4c2e90"
DEMO_CLIENT_ID = "partner-portal-demo"
DEMO_CLIENT_SECRET = "demo-graph-secret"  # noqa: S105 - the simulator's own demo credential


def demo_partner_tenant():
    """The partner tenant as Graph would show it: today's relationships in the database, with
    pending ones approved after a minute, so a sync in `make run` has something to learn."""
    from customers.models import DelegatedAdminRelationship

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
    help = "Serve the Microsoft Graph simulator on loopback (development only)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8001)

    def handle(self, *args, port, **options):
        if not settings.SIMULATORS_ENABLED:
            raise CommandError("The simulators are never served in production.")
        simulator = GraphSimulator(demo_partner_tenant())
        server = SimulatorServer(simulator, port=port)
        simulator.base_url = server.url
        server.start()
        self.stdout.write(
            f"Graph simulator on {server.url}/v1.0 (partner tenant {DEMO_PARTNER_TENANT}, "
            f"{len(simulator.partner.relationships)} GDAP relationships)"
        )
        stopped = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stopped.set())
        stopped.wait()
        server.stop()
