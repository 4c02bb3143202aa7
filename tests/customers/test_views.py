import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from core.models import AuditEntry
from customers import gdap
from customers.models import Customer, Subscription
from tests.customers.factories import CustomerFactory, RelationshipFactory, SubscriptionFactory
from tests.helpers import query_counter


def list_names(response):
    return [customer.company_name for customer in response.context["page"].object_list]


def test_search_finds_by_name_any_domain_or_tenant_id(client_for, cast):
    target = CustomerFactory(
        company_name="Fabrikam Lojistik", other_domains=["fabrikam-lojistik.com.tr"]
    )
    CustomerFactory(company_name="Contoso")
    agent = client_for("helpdesk_agent")
    url = reverse("customers:list")
    for text in ("fabrikam", "LOJISTIK.COM.TR", str(target.tenant_id), target.default_domain):
        assert list_names(agent.get(url, {"q": text})) == ["Fabrikam Lojistik"], text


def test_filters_by_relationship_tag_and_gdap_state(client_for, cast):
    active = RelationshipFactory(customer__company_name="Active Co").customer
    expiring = RelationshipFactory(
        customer__company_name="Expiring Co", ends_in=timedelta(days=10)
    ).customer
    expired = RelationshipFactory(
        customer__company_name="Expired Co",
        status=gdap.RelationshipStatusChoices.EXPIRED,
        ends_in=timedelta(days=-3),
    ).customer
    none = CustomerFactory(company_name="None Co", relationship="direct")
    vip = CustomerFactory(company_name="Tagged Co")
    vip.tags.create(name="vip")
    agent = client_for("helpdesk_agent")
    url = reverse("customers:list")
    assert list_names(agent.get(url, {"gdap_state": "active"})) == [active.company_name]
    assert list_names(agent.get(url, {"gdap_state": "expiring"})) == [expiring.company_name]
    assert list_names(agent.get(url, {"gdap_state": "expired"})) == [expired.company_name]
    assert set(list_names(agent.get(url, {"gdap_state": "none"}))) == {"None Co", "Tagged Co"}
    assert list_names(agent.get(url, {"relationship": "direct"})) == [none.company_name]
    assert list_names(agent.get(url, {"tag": "vip"})) == ["Tagged Co"]


def test_an_unknown_filter_value_shows_an_error_not_everything(client_for, cast):
    CustomerFactory()
    response = client_for("helpdesk_agent").get(reverse("customers:list"), {"gdap_state": "bogus"})
    assert response.status_code == 200
    assert list_names(response) == []
    assert "gdap_state" in response.context["filterset"].errors


def test_sorting(client_for, cast):
    CustomerFactory(company_name="Beta", country="TR")
    CustomerFactory(company_name="Alpha", country="US")
    agent = client_for("helpdesk_agent")
    url = reverse("customers:list")
    assert list_names(agent.get(url)) == ["Alpha", "Beta"]
    assert list_names(agent.get(url, {"sort": "-name"})) == ["Beta", "Alpha"]
    assert list_names(agent.get(url, {"sort": "country"})) == ["Beta", "Alpha"]


def test_list_queries_do_not_grow_with_rows(client_for, cast):
    count_queries = query_counter(client_for("helpdesk_agent"), reverse("customers:list"))

    for _ in range(3):
        customer = CustomerFactory()
        customer.tags.create(name=f"t{customer.pk}")
    few, _response = count_queries()
    for _ in range(47):
        customer = CustomerFactory()
        customer.tags.create(name=f"t{customer.pk}")
        RelationshipFactory(customer=customer)
    many, response = count_queries()
    assert len(response.context["page"].object_list) == 50
    # The full page adds its COUNT(*) (a first page with room to spare is its own count); the
    # rows add nothing.
    assert many == few + 1


def test_the_export_holds_the_filtered_customers(client_for, cast):
    CustomerFactory(company_name="Exported Co", relationship="direct")
    CustomerFactory(company_name="=cmd|' /C calc'!A0", relationship="reseller")
    response = client_for("helpdesk_agent").get(
        reverse("customers:export"), {"relationship": "direct"}
    )
    body = b"".join(response.streaming_content).decode()
    assert "Exported Co" in body
    assert "calc" not in body
    response = client_for("helpdesk_agent").get(reverse("customers:export"))
    assert "'=cmd" in b"".join(response.streaming_content).decode()


def test_detail_shows_contacts_subscriptions_links_and_relationships(client_for, cast):
    customer = CustomerFactory(
        default_domain="fabrikam.onmicrosoft.com",
        sharepoint_admin_url="https://fabrikam-admin.sharepoint.com/",
    )
    customer.contacts.create(name="Elif Kaya", email="elif@fabrikam.example", role="technical")
    SubscriptionFactory(customer=customer, service_family="azure", offer_name="Azure plan")
    SubscriptionFactory(customer=customer, service_family="microsoft_365")
    RelationshipFactory(
        customer=customer,
        display_name="Tier 2",
        roles=[gdap.GLOBAL_ADMINISTRATOR_ROLE_ID],
        ends_in=timedelta(days=5),
    )
    agent = client_for("helpdesk_agent")
    url = customer.get_absolute_url()
    assert "Elif Kaya" in agent.get(url).content.decode()
    assert "Azure plan" in agent.get(url, {"tab": "subscriptions"}).content.decode()
    services = agent.get(url, {"tab": "services"}).content.decode()
    assert f"https://portal.azure.com/{customer.tenant_id}" in services
    assert "https://admin.teams.microsoft.com/?delegatedOrg=fabrikam.onmicrosoft.com" in services
    assert "https://fabrikam-admin.sharepoint.com/" in services
    assert "Power Platform admin center" not in services
    access = agent.get(url, {"tab": "access"}).content.decode()
    assert "Tier 2" in access
    assert "Global Administrator" in access
    assert "Not possible: includes Global Administrator" in access
    assert "ends within 7 days" in access


def test_a_customer_without_access_is_marked(client_for, cast):
    customer = RelationshipFactory(
        status=gdap.RelationshipStatusChoices.TERMINATED, ends_in=timedelta(days=-1)
    ).customer
    customer.refresh_from_db()
    assert customer.has_delegated_access is False
    page = client_for("helpdesk_agent").get(customer.get_absolute_url()).content.decode()
    assert "no longer has delegated admin access" in page


def test_an_unknown_relationship_status_is_kept_and_shown(client_for, cast):
    relationship = RelationshipFactory(status="suspendedByMicrosoft")
    page = client_for("helpdesk_agent").get(
        relationship.customer.get_absolute_url(), {"tab": "access"}
    )
    assert "suspendedByMicrosoft" in page.content.decode()


@pytest.mark.parametrize("principal", ["global_admin", "admin_agent"])
def test_managers_create_a_customer_with_contacts(principal, client_for, cast):
    tenant_id = uuid.uuid4()
    response = client_for(principal).post(
        reverse("customers:create"),
        {
            "company_name": "Northwind Traders",
            "tenant_id": str(tenant_id),
            "default_domain": "Northwind.onmicrosoft.com",
            "other_domains": "northwind.example\nNORTHWIND.com.tr",
            "country": "tr",
            "relationship": "reseller",
            "tags": "VIP, 24x7",
            "notes": "",
            "contacts-TOTAL_FORMS": "1",
            "contacts-INITIAL_FORMS": "0",
            "contacts-0-name": "Mert Aydın",
            "contacts-0-email": "mert@northwind.example",
            "contacts-0-phone": "+90 212 000 00 00",
            "contacts-0-role": "primary",
        },
    )
    assert response.status_code == 302
    customer = Customer.objects.get(tenant_id=tenant_id)
    assert customer.default_domain == "northwind.onmicrosoft.com"
    assert customer.other_domains == ["northwind.com.tr", "northwind.example"]
    assert customer.country == "TR"
    assert sorted(tag.name for tag in customer.tags.all()) == ["24x7", "vip"]
    assert customer.contacts.get().name == "Mert Aydın"
    entry = AuditEntry.objects.get(action="customer.created")
    assert entry.actor == cast[principal]
    assert entry.after["contacts"][0]["email"] == "mert@northwind.example"


def test_bad_input_gets_field_errors_and_writes_nothing(client_for, cast):
    existing = CustomerFactory()
    response = client_for("admin_agent").post(
        reverse("customers:create"),
        {
            "company_name": "",
            "tenant_id": str(existing.tenant_id),
            "default_domain": "not a domain",
            "other_domains": "ok.example bad_domain",
            "country": "Turkey",
            "relationship": "friend",
            "contacts-TOTAL_FORMS": "1",
            "contacts-INITIAL_FORMS": "0",
            "contacts-0-name": "",
            "contacts-0-email": "not-an-email",
            "contacts-0-role": "primary",
        },
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    invalid = "company_name tenant_id default_domain other_domains country relationship"
    assert set(invalid.split()) <= set(errors)
    assert response.context["contact_formset"].errors[0]["email"]
    assert Customer.objects.count() == 1
    assert not AuditEntry.objects.filter(action="customer.created").exists()


def test_editing_is_audited_with_before_and_after(client_for, cast):
    customer = CustomerFactory(company_name="Old Name")
    response = client_for("admin_agent").post(
        reverse("customers:edit", args=[customer.tenant_id]),
        {
            "company_name": "New Name",
            "default_domain": customer.default_domain,
            "other_domains": "",
            "country": "GB",
            "relationship": "reseller",
            "tags": "",
            "notes": "Prefers email",
            "contacts-TOTAL_FORMS": "0",
            "contacts-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.company_name == "New Name"
    entry = AuditEntry.objects.get(action="customer.updated")
    assert entry.before["company_name"] == "Old Name"
    assert entry.after["company_name"] == "New Name"


def test_helpdesk_agents_see_but_cannot_change(client_for, cast):
    customer = CustomerFactory()
    agent = client_for("helpdesk_agent")
    page = agent.get(customer.get_absolute_url()).content.decode()
    assert reverse("customers:edit", args=[customer.tenant_id]) not in page
    assert reverse("customers:create") not in agent.get(reverse("customers:list")).content.decode()
    assert agent.get(reverse("customers:edit", args=[customer.tenant_id])).status_code == 403
    response = agent.post(
        reverse("customers:subscription_create", args=[customer.tenant_id]),
        {"service_family": "azure", "offer_name": "x", "quantity": 1, "status": "active"},
    )
    assert response.status_code == 403
    assert not Subscription.objects.exists()


def test_subscription_and_relationship_forms(client_for, cast):
    customer = CustomerFactory()
    manager = client_for("admin_agent")
    response = manager.post(
        reverse("customers:subscription_create", args=[customer.tenant_id]),
        {"service_family": "azure", "offer_name": "Azure plan", "quantity": 1, "status": "active"},
    )
    assert response.status_code == 302
    assert customer.subscriptions.get().offer_name == "Azure plan"
    ends = timezone.localtime() + timedelta(days=3)
    response = manager.post(
        reverse("customers:relationship_create", args=[customer.tenant_id]),
        {
            "display_name": "Helpdesk",
            "microsoft_id": "abc-123",
            "status": "active",
            "duration": "P730D",
            "auto_extend_duration": "PT0S",
            "roles": ["f023fd81-a637-4b56-95fd-791ac0226033"],
            "activated_on": (ends - timedelta(days=727)).strftime("%Y-%m-%dT%H:%M"),
            "ends_on": ends.strftime("%Y-%m-%dT%H:%M"),
        },
    )
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.gdap_state() == gdap.GdapStateChoices.EXPIRING
    assert AuditEntry.objects.filter(action="gdap.relationship_created").count() == 1


def test_expiring_access_page_and_dashboard(client_for, cast):
    RelationshipFactory(customer__company_name="Tomorrow Co", ends_in=timedelta(hours=20))
    RelationshipFactory(customer__company_name="Next Week Co", ends_in=timedelta(days=6))
    RelationshipFactory(customer__company_name="This Month Co", ends_in=timedelta(days=25))
    RelationshipFactory(customer__company_name="Later Co", ends_in=timedelta(days=90))
    agent = client_for("admin_agent")
    response = agent.get(reverse("customers:expiring_access"))
    names = [r.customer.company_name for r in response.context["relationships"]]
    assert names == ["Tomorrow Co", "Next Week Co", "This Month Co"]
    response = agent.get(reverse("customers:expiring_access"), {"days": 7})
    assert [r.customer.company_name for r in response.context["relationships"]] == [
        "Tomorrow Co",
        "Next Week Co",
    ]
    counts = agent.get(reverse("dashboard:index")).context["expiry_counts"]
    assert counts == {"within_1": 1, "within_7": 2, "within_30": 3}


def test_a_failing_gdap_sync_is_shown_with_its_reason(client_for, cast):
    from customers.models import GdapSyncState

    state = GdapSyncState.get()
    state.last_outcome = GdapSyncState.Outcome.FAILED
    state.last_error = "Graph refused access (403 Authorization_RequestDenied)"
    state.needs_attention = True
    state.save()
    page = client_for("helpdesk_agent").get(reverse("customers:expiring_access")).content.decode()
    assert "Reading relationships from Microsoft failed" in page
    assert "Authorization_RequestDenied" in page
    assert "Needs an admin" in page
    assert reverse("customers:gdap_sync") not in page  # helpdesk agents cannot trigger it
    manager_page = client_for("admin_agent").get(reverse("customers:expiring_access"))
    assert reverse("customers:gdap_sync") in manager_page.content.decode()
