"""The customer sync from the Partner Center and Graph simulators over real HTTP, as the partner
connected through the Entra ID simulator: created and updated by tenant id, marked when gone,
subscriptions upserted, the headers Partner Center asks for, paging, the command."""

import uuid
from datetime import date

from django.core.management import call_command
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext

from core.models import AuditEntry, Event
from customers import gdap_sync, partner_center_sync
from customers.models import Customer, CustomerSyncRun, PartnerCenterSyncState, Subscription
from simulators.graph import relationship_json
from simulators.partner_center.customers import SimulatedSubscription
from tests.customers.factories import CustomerFactory, SubscriptionFactory
from tests.helpers import data_writes


def test_a_tenant_in_either_source_becomes_a_customer_matched_by_tenant_id(microsoft_world):
    world = microsoft_world
    typed = CustomerFactory(
        company_name="Contoso (typed in)", default_domain="contoso.com", country="GB"
    )
    world.add_partner_center_customer(
        "Contoso Ltd",
        tenant_id=typed.tenant_id,
        domain="contoso.onmicrosoft.com",
        country="TR",
        custom_domains=["contoso.com", "contoso.com.tr"],
        subscriptions=["Microsoft 365 E3"],
    )
    fabrikam = world.add_partner_center_customer("Fabrikam GmbH", country="DE")
    world.add_gdap_customer("Contoso Ltd", tenant_id=typed.tenant_id)
    only_gdap = world.add_gdap_customer("Northwind Traders")

    summary = partner_center_sync.run()

    assert Customer.objects.count() == 3
    typed.refresh_from_db()
    assert typed.company_name == "Contoso Ltd"
    assert typed.default_domain == "contoso.com"  # the portal's, kept
    assert typed.initial_domain == "contoso.onmicrosoft.com"
    assert typed.other_domains == ["contoso.com.tr"]
    assert typed.country == "TR"
    assert typed.from_partner_center
    new = Customer.objects.get(tenant_id=fabrikam)
    assert (new.company_name, new.default_domain, new.country) == (
        "Fabrikam GmbH",
        "fabrikamgmbh.onmicrosoft.com",
        "DE",
    )
    northwind = Customer.objects.get(tenant_id=only_gdap)
    assert (northwind.company_name, northwind.default_domain) == ("Northwind Traders", "")
    assert not northwind.from_partner_center
    assert sorted(summary.added) == ["Fabrikam GmbH", "Northwind Traders"]
    assert [c["name"] for c in summary.changed] == ["Contoso Ltd"]
    subscription = Subscription.objects.get(customer=typed)
    assert (subscription.offer_name, subscription.service_family) == (
        "Microsoft 365 E3",
        "microsoft_365",
    )
    created = AuditEntry.objects.filter(action="customer.created")
    assert created.count() == 2 and not created.filter(actor__isnull=False).exists()
    updated = AuditEntry.objects.get(action="customer.updated", target_id=str(typed.pk))
    assert updated.actor is None
    assert updated.before["company_name"] == "Contoso (typed in)"
    assert Event.objects.filter(type="customer.updated", tenant_id=typed.tenant_id).exists()
    run = CustomerSyncRun.objects.get()
    assert (run.status, run.added, run.changed, run.marked) == ("succeeded", 2, 1, 0)
    assert PartnerCenterSyncState.get().last_outcome == "succeeded"


def test_a_re_sync_that_learns_nothing_writes_nothing(microsoft_world):
    world = microsoft_world
    for n in range(3):
        world.add_partner_center_customer(f"Customer {n}", subscriptions=["Microsoft 365 E5"])
    world.add_gdap_customer("Only in GDAP")
    partner_center_sync.run()
    audit_count = AuditEntry.objects.count()
    with CaptureQueriesContext(db_connection) as queries:
        summary = partner_center_sync.run()
    assert summary.unchanged == 4 and not summary.added and not summary.changed
    bookkeeping = ("customers_partnercentersyncstate", "customers_customersyncrun")
    assert data_writes(queries, *bookkeeping) == []
    assert AuditEntry.objects.count() == audit_count


def test_customers_gone_from_partner_center_are_marked_never_deleted(microsoft_world):
    world = microsoft_world
    stays = world.add_partner_center_customer("Stays Ltd")
    leaves = world.add_partner_center_customer("Leaves Ltd", subscriptions=["Microsoft 365 E3"])
    typed_only = CustomerFactory(company_name="Typed Only")
    partner_center_sync.run()

    world.partner_center.customers.remove(leaves)
    summary = partner_center_sync.run()

    assert summary.marked == ["Leaves Ltd"]
    gone = Customer.objects.get(tenant_id=leaves)
    assert gone.removed_from_partner_center_at is not None
    assert gone.subscriptions.count() == 1
    assert Customer.objects.get(tenant_id=stays).removed_from_partner_center_at is None
    typed_only.refresh_from_db()
    assert typed_only.removed_from_partner_center_at is None  # never listed: nothing to mark
    assert CustomerSyncRun.objects.first().marked == 1

    world.add_partner_center_customer("Leaves Ltd", tenant_id=leaves)
    summary = partner_center_sync.run()
    assert Customer.objects.get(tenant_id=leaves).removed_from_partner_center_at is None
    assert summary.changed[0]["fields"] == ["removed_from_partner_center_at"]


def test_subscriptions_are_upserted_by_id_adopting_one_typed_in(microsoft_world):
    world = microsoft_world
    customer = CustomerFactory()
    typed = SubscriptionFactory(customer=customer, offer_name="Microsoft 365 E3", quantity=5)
    e3 = SimulatedSubscription("Microsoft 365 E3", quantity=25, commitment_end=None)
    azure = SimulatedSubscription("Azure plan", product_type="Azure", status="suspended")
    world.add_partner_center_customer(
        "Typed Customer", tenant_id=customer.tenant_id, subscriptions=[e3, azure]
    )
    partner_center_sync.run()

    rows = {s.offer_name: s for s in customer.subscriptions.all()}
    assert set(rows) == {"Microsoft 365 E3", "Azure plan"}
    assert rows["Microsoft 365 E3"].pk == typed.pk
    assert (rows["Microsoft 365 E3"].microsoft_id, rows["Microsoft 365 E3"].quantity) == (e3.id, 25)
    assert (rows["Azure plan"].service_family, rows["Azure plan"].status) == ("azure", "suspended")

    azure.quantity, azure.status = 3, "active"
    azure.commitment_end = e3.created.replace(year=2030)
    summary = partner_center_sync.run()
    assert summary.subscriptions_changed == 1
    updated = Subscription.objects.get(microsoft_id=azure.id)
    assert (updated.quantity, updated.status, updated.term_end) == (
        3,
        "active",
        date(2030, e3.created.month, e3.created.day),
    )
    assert AuditEntry.objects.filter(action="subscription.updated").exists()


def test_every_page_is_read_with_the_headers_partner_center_asks_for(microsoft_world, settings):
    world = microsoft_world
    settings.LANGUAGE_CODE = "tr"
    tenants = [world.add_partner_center_customer(f"Paged {n}") for n in range(5)]
    partner_center_sync.run()
    assert set(Customer.objects.values_list("tenant_id", flat=True)) == {
        uuid.UUID(t) for t in tenants
    }
    lists = [r for r in world.partner_center.requests if r[1] == "/v1/customers"]
    assert len(lists) == 3  # 2 + 2 + 1
    assert "MS-ContinuationToken" not in lists[0][2]
    assert lists[1][2]["MS-ContinuationToken"] != lists[2][2]["MS-ContinuationToken"]
    correlation_ids = [headers["MS-CorrelationId"] for _m, _p, headers, _b in lists]
    request_ids = [headers["MS-RequestId"] for _m, _p, headers, _b in lists]
    assert len(set(correlation_ids)) == 3 and len(set(request_ids)) == 3
    assert {headers["X-Locale"] for _m, _p, headers, _b in lists} == {"tr-TR"}
    assert {headers["Accept"] for _m, _p, headers, _b in lists} == {"application/json"}


def test_microsoft_links_and_the_sharepoint_admin_url_are_kept_per_customer(microsoft_world):
    world = microsoft_world
    teams = "https://admin.teams.microsoft.com/?delegatedOrg=adatum.onmicrosoft.com"
    reached = world.add_gdap_customer(
        "Adatum", links=[("Teams", teams)], sharepoint_host="adatum.sharepoint.com"
    )
    refused = world.add_partner_center_customer("No Relationship Ltd")
    partner_center_sync.run()

    adatum = Customer.objects.get(tenant_id=reached)
    assert adatum.sharepoint_admin_url == "https://adatum-admin.sharepoint.com/"
    assert adatum.microsoft_links == [{"service": "Teams", "url": teams}]
    assert adatum.tenant_access_error == ""
    stranger = Customer.objects.get(tenant_id=refused)
    assert stranger.sharepoint_admin_url == ""
    assert stranger.tenant_access_error.startswith("SharePoint admin URL:")
    run = CustomerSyncRun.objects.get()
    assert [t["name"] for t in run.details["tenant_access"]] == ["No Relationship Ltd"]


def test_the_initial_domain_of_another_customer_is_not_taken_as_default(microsoft_world):
    world = microsoft_world
    CustomerFactory(company_name="Owner", default_domain="shared.onmicrosoft.com")
    newcomer = world.add_partner_center_customer("Newcomer", domain="shared.onmicrosoft.com")
    summary = partner_center_sync.run()
    customer = Customer.objects.get(tenant_id=newcomer)
    assert (customer.default_domain, customer.initial_domain) == ("", "shared.onmicrosoft.com")
    assert summary.domain_conflicts == [
        {"name": "Newcomer", "domain": "shared.onmicrosoft.com", "owner": "Owner"}
    ]


def test_not_connected_is_recorded_and_nothing_read(db):
    try:
        partner_center_sync.run()
    except partner_center_sync.NotConfigured as exc:
        assert "Connect the partner's Microsoft tenant" in str(exc)
    else:
        raise AssertionError("expected NotConfigured")
    state = PartnerCenterSyncState.get()
    assert (state.last_outcome, state.needs_attention) == ("not_configured", True)
    assert CustomerSyncRun.objects.get().status == "failed"


def test_a_held_lease_skips_the_run(microsoft_world):
    world = microsoft_world
    world.add_partner_center_customer("Skipped Ltd")
    assert PartnerCenterSyncState.claim(partner_center_sync.LEASE)
    assert partner_center_sync.run() is None
    assert not Customer.objects.exists()
    assert world.partner_center.requests == []


def test_the_command_runs_the_sync_and_prints_the_summary(microsoft_world, capsys):
    microsoft_world.add_partner_center_customer("Command Ltd")
    call_command("sync_customers")
    out = capsys.readouterr().out
    assert "1 customers added, 0 changed, 0 marked" in out
    assert "added: Command Ltd" in out


def test_the_gdap_sync_reads_with_the_connections_delegated_token(microsoft_world, settings):
    world = microsoft_world
    settings.PARTNER_TENANT_ID = settings.GRAPH_CLIENT_ID = settings.GRAPH_CLIENT_SECRET = ""
    customer = CustomerFactory()
    world.graph.partner.relationships.append(
        relationship_json(
            relationship_id="rel-1",
            display_name="Support",
            customer_name=customer.company_name,
            customer_tenant_id=customer.tenant_id,
            status="approvalPending",
            roles=["f023fd81-a637-4b56-95fd-791ac0226033"],
        )
    )
    summary = gdap_sync.run()
    assert summary.created == 1
    token = world.graph.requests[-1][3]["Authorization"].removeprefix("Bearer ")
    assert world.entra.token_info(token)[0] == world.entra.tenant_id
