"""The customers API across the role matrix, its validation, filters, incremental sync and budget."""

import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.roles import Role
from core.models import AuditEntry
from customers import gdap, services
from customers.models import Customer, DelegatedAdminRelationship, Subscription
from tests.helpers import (
    SUPPORT_READS,
    all_pages,
    assert_write_answer,
    key_set,
    schema_text,
    sync_stamps,
)

LIST_URL = "/api/v1/customers/"
SERVICE_SUPPORT_ADMIN = "f023fd81-a637-4b56-95fd-791ac0226033"
UNKNOWN_ROLE = "00000000-0000-0000-0000-000000000001"

# Who reads and who writes, restated from the role matrix (README, Roles).
READS = SUPPORT_READS
WRITES = {
    "global_admin": "ok",
    "admin_agent": "ok",
    "helpdesk_agent": 403,
    "user_management_admin": 404,
    "no_role": 404,
    "anonymous": 401,
}


def make_customer(company_name="Contoso Ltd", **fields):
    suffix = uuid.uuid4().hex[:8]
    values = {
        "tenant_id": uuid.uuid4(),
        "company_name": company_name,
        "default_domain": f"c{suffix}.onmicrosoft.com",
        "country": "GB",
        **fields,
    }
    return services.create_customer(actor=None, **values)


def add_relationship(
    customer, *, status="active", ends_in_days=300, roles=(SERVICE_SUPPORT_ADMIN,)
):
    now = timezone.now()
    return services.save_relationship(
        DelegatedAdminRelationship(customer=customer),
        actor=None,
        microsoft_id=f"rel-{uuid.uuid4()}",
        display_name="Helpdesk access",
        status=status,
        duration="P730D",
        auto_extend_duration="P180D",
        roles=list(roles),
        activated_on=now - timedelta(days=100),
        ends_on=now + timedelta(days=ends_in_days),
    )


def detail_url(customer, suffix=""):
    return f"{LIST_URL}{customer.tenant_id}/{suffix}"


def bearer(token):
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def new_customer_payload(**overrides):
    suffix = uuid.uuid4().hex[:8]
    return {
        "tenant_id": str(uuid.uuid4()),
        "company_name": "Fabrikam Inc",
        "default_domain": f"fabrikam{suffix}.onmicrosoft.com",
        "other_domains": ["Fabrikam.example"],
        "country": "US",
        "relationship": "indirect_reseller",
        "tags": ["gold", "Priority"],
        "notes": "Signed in March.",
        "contacts": [
            {"name": "Pat Doe", "email": "pat@fabrikam.example", "phone": "", "role": "technical"}
        ],
        **overrides,
    }


def error_attrs(response):
    return {error["attr"] for error in response.json()["errors"]}


def result_ids(response):
    return [row["tenant_id"] for row in response.json()["results"]]


# --- the role matrix --------------------------------------------------------------------------


@pytest.mark.parametrize("principal, expected", READS.items())
def test_list_by_role(principal, expected, client_for):
    customer = make_customer()
    response = client_for(principal).get(LIST_URL)
    assert response.status_code == expected
    if expected == 200:
        assert result_ids(response) == [str(customer.tenant_id)]


@pytest.mark.parametrize("principal, expected", READS.items())
def test_retrieve_by_role(principal, expected, client_for):
    customer = make_customer()
    response = client_for(principal).get(detail_url(customer))
    assert response.status_code == expected
    if expected == 200:
        assert response.json()["company_name"] == "Contoso Ltd"


@pytest.mark.parametrize("principal, expected", WRITES.items())
def test_create_by_role(principal, expected, client_for):
    payload = new_customer_payload()
    response = client_for(principal).post(LIST_URL, payload, content_type="application/json")
    created = Customer.objects.filter(tenant_id=payload["tenant_id"]).exists()
    assert_write_answer(response, expected, created)


@pytest.mark.parametrize("principal, expected", WRITES.items())
def test_partial_update_by_role(principal, expected, client_for):
    customer = make_customer()
    response = client_for(principal).patch(
        detail_url(customer), {"company_name": "Contoso Group"}, content_type="application/json"
    )
    customer.refresh_from_db()
    assert_write_answer(
        response, expected, customer.company_name, "Contoso Group", "Contoso Ltd", ok_status=200
    )


@pytest.mark.parametrize("principal, expected", READS.items())
@pytest.mark.parametrize("nested", ["subscriptions", "relationships"])
def test_nested_lists_by_role(nested, principal, expected, client_for):
    customer = make_customer()
    add_relationship(customer)
    services.save_subscription(
        Subscription(customer=customer),
        actor=None,
        service_family="microsoft_365",
        offer_name="Microsoft 365 E3",
        quantity=10,
    )
    response = client_for(principal).get(detail_url(customer, f"{nested}/"))
    assert response.status_code == expected
    if expected == 200:
        assert len(response.json()) == 1


@pytest.mark.parametrize("principal, expected", WRITES.items())
def test_add_subscription_by_role(principal, expected, client_for):
    customer = make_customer()
    response = client_for(principal).post(
        detail_url(customer, "subscriptions/"),
        {"service_family": "azure", "offer_name": "Azure plan", "quantity": 1},
        content_type="application/json",
    )
    assert_write_answer(response, expected, customer.subscriptions.count(), 1, 0)


def test_customers_cannot_be_deleted(client_for):
    customer = make_customer()
    response = client_for("global_admin").delete(detail_url(customer))
    assert response.status_code == 405
    assert Customer.objects.filter(pk=customer.pk).exists()


@pytest.mark.parametrize("tenant_id", [uuid.uuid4(), "not-a-tenant"])
def test_an_unknown_tenant_is_not_found(tenant_id, client_for):
    make_customer()
    response = client_for("helpdesk_agent").get(f"{LIST_URL}{tenant_id}/")
    assert response.status_code == 404


def test_a_read_only_token_cannot_write(api_token_for):
    token = api_token_for(Role.ADMIN_AGENT, scopes=["read"])
    payload = new_customer_payload()
    assert Client().get(LIST_URL, **bearer(token)).status_code == 200
    response = Client().post(LIST_URL, payload, content_type="application/json", **bearer(token))
    assert response.status_code == 403
    assert "write" in response.json()["errors"][0]["detail"]
    assert not Customer.objects.filter(tenant_id=payload["tenant_id"]).exists()


def test_a_read_write_token_creates_a_customer(api_token_for):
    token = api_token_for(Role.ADMIN_AGENT, scopes=["read", "write"])
    payload = new_customer_payload()
    response = Client().post(LIST_URL, payload, content_type="application/json", **bearer(token))
    assert response.status_code == 201
    entry = AuditEntry.objects.get(action="customer.created")
    assert entry.actor.is_api_client


# --- representation and writes ----------------------------------------------------------------


def test_a_customer_is_represented_with_tags_contacts_and_gdap_state(client_for):
    customer = make_customer(
        other_domains=["contoso.example"],
        tags=["gold", "priority"],
        contacts=[
            {
                "name": "Sam Lee",
                "email": "sam@contoso.example",
                "phone": "+44 20",
                "role": "primary",
            },
            {"name": "Ari Kaya", "email": "", "phone": "", "role": "billing"},
        ],
    )
    relationship = add_relationship(customer, ends_in_days=10)
    response = client_for("helpdesk_agent").get(detail_url(customer))
    data = response.json()
    assert set(data) == key_set(
        "url tenant_id company_name default_domain other_domains country relationship tags notes"
        " contacts gdap_state gdap_access_until created_at modified_at"
    )
    assert data["url"] == f"http://testserver{detail_url(customer)}"
    assert data["tenant_id"] == str(customer.tenant_id)
    assert data["other_domains"] == ["contoso.example"]
    assert data["tags"] == ["gold", "priority"]
    assert data["contacts"] == [
        {"name": "Ari Kaya", "email": "", "phone": "", "role": "billing"},
        {"name": "Sam Lee", "email": "sam@contoso.example", "phone": "+44 20", "role": "primary"},
    ]
    assert data["gdap_state"] == "expiring"
    assert data["gdap_access_until"] is not None
    assert data["gdap_access_until"][:16] == relationship.ends_on.isoformat()[:16]


def test_create_lower_cases_domains_and_stores_tags_and_contacts(client_for):
    payload = new_customer_payload(default_domain="Fabrikam-Main.OnMicrosoft.com")
    response = client_for("admin_agent").post(LIST_URL, payload, content_type="application/json")
    assert response.status_code == 201
    customer = Customer.objects.get(tenant_id=payload["tenant_id"])
    assert customer.default_domain == "fabrikam-main.onmicrosoft.com"
    assert customer.other_domains == ["fabrikam.example"]
    assert sorted(tag.name for tag in customer.tags.all()) == ["gold", "priority"]
    assert [contact.name for contact in customer.contacts.all()] == ["Pat Doe"]
    assert response["Location"] == f"http://testserver{detail_url(customer)}"
    assert response.json()["gdap_state"] == "none"


def test_put_replaces_tags_and_contacts_and_keeps_the_tenant_id(client_for):
    customer = make_customer(tags=["gold"], contacts=[{"name": "Old Contact", "role": "primary"}])
    tenant_id = customer.tenant_id
    payload = {
        "tenant_id": str(uuid.uuid4()),
        "company_name": "Contoso plc",
        "default_domain": customer.default_domain,
        "country": "IE",
        "tags": ["silver"],
        "contacts": [{"name": "New Contact", "email": "new@contoso.example", "role": "security"}],
    }
    response = client_for("global_admin").put(
        detail_url(customer), payload, content_type="application/json"
    )
    assert response.status_code == 200
    customer.refresh_from_db()
    assert customer.tenant_id == tenant_id
    assert customer.company_name == "Contoso plc"
    assert customer.country == "IE"
    assert [tag.name for tag in customer.tags.all()] == ["silver"]
    assert [contact.name for contact in customer.contacts.all()] == ["New Contact"]
    assert response.json()["tenant_id"] == str(tenant_id)


def test_patch_leaves_tags_and_contacts_alone_when_not_given(client_for):
    customer = make_customer(tags=["gold"], contacts=[{"name": "Sam Lee", "role": "primary"}])
    response = client_for("admin_agent").patch(
        detail_url(customer), {"notes": "Renewal in May."}, content_type="application/json"
    )
    assert response.status_code == 200
    assert response.json()["tags"] == ["gold"]
    assert [contact["name"] for contact in response.json()["contacts"]] == ["Sam Lee"]
    customer.refresh_from_db()
    assert customer.notes == "Renewal in May."


def test_api_writes_are_audited(client_for, cast):
    signed_in = client_for("admin_agent")
    payload = new_customer_payload()
    assert signed_in.post(LIST_URL, payload, content_type="application/json").status_code == 201
    customer = Customer.objects.get(tenant_id=payload["tenant_id"])
    response = signed_in.patch(
        detail_url(customer), {"country": "CA"}, content_type="application/json"
    )
    assert response.status_code == 200
    created = AuditEntry.objects.get(action="customer.created", target_id=str(customer.pk))
    updated = AuditEntry.objects.get(action="customer.updated", target_id=str(customer.pk))
    assert created.actor == cast["admin_agent"]
    assert created.ip_address == "127.0.0.1"
    assert created.after["tags"] == ["gold", "priority"]
    assert updated.actor == cast["admin_agent"]
    assert (updated.before["country"], updated.after["country"]) == ("US", "CA")


# --- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides, attr",
    [
        ({"default_domain": "not a domain"}, "default_domain"),
        ({"other_domains": ["ok.example", "bad_domain"]}, "other_domains.1"),
        ({"country": "Britain"}, "country"),
        ({"country": "gb"}, "country"),
        ({"relationship": "franchise"}, "relationship"),
        ({"tenant_id": "not-a-uuid"}, "tenant_id"),
        ({"tags": ["two words"]}, "tags.0"),
        ({"contacts": [{"name": "", "role": "primary"}]}, "contacts.0.name"),
    ],
)
def test_create_reports_field_errors(overrides, attr, client_for):
    before = (Customer.objects.count(), AuditEntry.objects.count())
    response = client_for("admin_agent").post(
        LIST_URL, new_customer_payload(**overrides), content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["type"] == "validation_error"
    assert error_attrs(response) == {attr}
    assert (Customer.objects.count(), AuditEntry.objects.count()) == before


def test_tenant_id_is_required_on_create(client_for):
    payload = new_customer_payload()
    del payload["tenant_id"]
    response = client_for("admin_agent").post(LIST_URL, payload, content_type="application/json")
    assert response.status_code == 400
    assert error_attrs(response) == {"tenant_id"}


def test_a_duplicate_tenant_id_is_a_field_error(client_for):
    existing = make_customer()
    before = (Customer.objects.count(), AuditEntry.objects.count())
    response = client_for("admin_agent").post(
        LIST_URL,
        new_customer_payload(tenant_id=str(existing.tenant_id)),
        content_type="application/json",
    )
    assert response.status_code == 400
    assert error_attrs(response) == {"tenant_id"}
    assert (Customer.objects.count(), AuditEntry.objects.count()) == before


def test_a_duplicate_default_domain_is_a_field_error_whatever_its_case(client_for):
    existing = make_customer()
    before = (Customer.objects.count(), AuditEntry.objects.count())
    response = client_for("admin_agent").post(
        LIST_URL,
        new_customer_payload(default_domain=existing.default_domain.upper()),
        content_type="application/json",
    )
    assert response.status_code == 400
    assert error_attrs(response) == {"default_domain"}
    assert (Customer.objects.count(), AuditEntry.objects.count()) == before


def test_updating_to_another_customers_default_domain_is_a_field_error(client_for):
    taken = make_customer()
    customer = make_customer()
    response = client_for("admin_agent").patch(
        detail_url(customer),
        {"default_domain": taken.default_domain},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert error_attrs(response) == {"default_domain"}
    domain = customer.default_domain
    customer.refresh_from_db()
    assert customer.default_domain == domain
    assert not AuditEntry.objects.filter(action="customer.updated").exists()


def test_a_customer_may_keep_its_own_default_domain(client_for):
    customer = make_customer()
    response = client_for("admin_agent").patch(
        detail_url(customer),
        {"default_domain": customer.default_domain.upper(), "company_name": "Contoso 2"},
        content_type="application/json",
    )
    assert response.status_code == 200
    assert response.json()["default_domain"] == customer.default_domain


# --- search and filters -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    ["northwind", "NORTHWIND TRADERS", "northwind.example", "nwt-main.onmicrosoft", "tenant"],
)
def test_search_by_name_any_domain_or_tenant_id(query, client_for):
    wanted = make_customer(
        "Northwind Traders",
        tenant_id=uuid.UUID("7e57a9b1-0000-4000-8000-00000000aaaa"),
        default_domain="nwt-main.onmicrosoft.com",
        other_domains=["northwind.example"],
    )
    make_customer("Contoso Ltd")
    if query == "tenant":
        query = str(wanted.tenant_id).upper()
    response = client_for("helpdesk_agent").get(LIST_URL, {"q": query})
    assert response.status_code == 200
    assert result_ids(response) == [str(wanted.tenant_id)]


def test_filter_by_relationship_and_tag(client_for):
    direct = make_customer("Direct Co", relationship="direct", tags=["gold"])
    reseller = make_customer("Reseller Co", relationship="reseller", tags=["gold", "silver"])
    make_customer("Untagged Co", relationship="reseller")
    signed_in = client_for("helpdesk_agent")
    response = signed_in.get(LIST_URL, {"relationship": "direct"})
    assert result_ids(response) == [str(direct.tenant_id)]
    response = signed_in.get(LIST_URL, {"tag": "silver"})
    assert result_ids(response) == [str(reseller.tenant_id)]
    response = signed_in.get(LIST_URL, {"tag": "gold", "relationship": "reseller"})
    assert result_ids(response) == [str(reseller.tenant_id)]
    response = signed_in.get(LIST_URL, {"relationship": "franchise"})
    assert response.status_code == 400
    assert error_attrs(response) == {"relationship"}


def test_filter_by_gdap_state(client_for):
    expiring = make_customer("Expiring Co")
    add_relationship(expiring, ends_in_days=10)
    active = make_customer("Active Co")
    add_relationship(active, ends_in_days=100)
    expired = make_customer("Expired Co")
    add_relationship(expired, status=gdap.RelationshipStatusChoices.EXPIRED, ends_in_days=-5)
    none = make_customer("Never Co")
    expected = {"expiring": expiring, "active": active, "expired": expired, "none": none}
    signed_in = client_for("helpdesk_agent")
    for state, customer in expected.items():
        response = signed_in.get(LIST_URL, {"gdap_state": state})
        assert result_ids(response) == [str(customer.tenant_id)], state
        assert response.json()["results"][0]["gdap_state"] == state


def test_modified_since_pages_through_each_change_exactly_once(client_for):
    cutoff = timezone.now() - timedelta(hours=1)
    stamps = sync_stamps(cutoff)
    customers = {}
    for label, stamp in stamps.items():
        customers[label] = make_customer(f"Sync {label}")
        # QuerySet.update() bypasses auto_now: the stamp is exactly this.
        Customer.objects.filter(pk=customers[label].pk).update(modified_at=stamp)
    signed_in = client_for("helpdesk_agent")
    response = signed_in.get(LIST_URL, {"modified_since": cutoff.isoformat(), "page_size": 2})
    pages = all_pages(signed_in, response)
    seen, modified = [], []
    for page in pages:
        assert page.status_code == 200
        seen += result_ids(page)
        modified += [row["modified_at"] for row in page.json()["results"]]
    # modified_since is exclusive: the row stamped exactly at it came with an earlier poll.
    expected = {
        str(customers[label].tenant_id) for label in stamps if label not in ("before", "at")
    }
    assert len(seen) == len(set(seen)) == 4
    assert set(seen) == expected
    assert len(pages) == 2
    assert seen[0] == str(customers["tie-1"].tenant_id)
    assert seen[-1] == str(customers["after"].tenant_id)
    assert modified == sorted(modified)


def test_a_customer_changed_while_paging_comes_back_at_the_end(client_for, settings):
    # The change below is fresh: served at once, without the settle window.
    settings.API_SYNC_SETTLE_SECONDS = 0
    start = timezone.now() - timedelta(hours=1)
    customers = [make_customer(f"Paging {n}") for n in range(4)]
    for n, customer in enumerate(customers):
        Customer.objects.filter(pk=customer.pk).update(modified_at=start + timedelta(minutes=n))
    signed_in = client_for("helpdesk_agent")
    since = (start - timedelta(seconds=1)).isoformat()
    first = signed_in.get(LIST_URL, {"modified_since": since, "page_size": 2})
    assert result_ids(first) == [str(c.tenant_id) for c in customers[:2]]
    services.update_customer(customers[0], actor=None, notes="changed")
    rest, url = [], first.json()["next"]
    while url:
        page = signed_in.get(url)
        rest += result_ids(page)
        url = page.json()["next"]
    assert rest == [str(customers[2].tenant_id), str(customers[3].tenant_id)] + [
        str(customers[0].tenant_id)
    ]


# --- nested lists -----------------------------------------------------------------------------


def test_relationships_list_roles_assignments_and_flags(client_for):
    customer = make_customer()
    later = add_relationship(customer, ends_in_days=200)
    sooner = add_relationship(
        customer,
        status="someFutureStatus",
        ends_in_days=5,
        roles=[gdap.GLOBAL_ADMINISTRATOR_ROLE_ID, UNKNOWN_ROLE],
    )
    later.access_assignments.create(
        microsoft_id="assign-1",
        security_group_id="group-1",
        security_group_name="Helpdesk agents",
        roles=[SERVICE_SUPPORT_ADMIN],
        status="active",
    )
    response = client_for("helpdesk_agent").get(detail_url(customer, "relationships/"))
    assert response.status_code == 200
    first, second = response.json()
    assert (first["microsoft_id"], second["microsoft_id"]) == (
        sooner.microsoft_id,
        later.microsoft_id,
    )
    assert first["status"] == first["status_label"] == "someFutureStatus"
    # Role ids are stored sorted, so Graph's order never shows as a change.
    assert first["roles"] == [
        {"id": UNKNOWN_ROLE, "name": UNKNOWN_ROLE},
        {"id": gdap.GLOBAL_ADMINISTRATOR_ROLE_ID, "name": "Global Administrator"},
    ]
    assert first["includes_global_administrator"] is True
    assert first["can_auto_extend"] is False
    assert first["expiry_flag"] is None  # an unknown status grants no access
    assert first["access_assignments"] == []
    assert second["status_label"] == "Active"
    assert second["can_auto_extend"] is True
    assert second["days_left"] in (199, 200)
    assert second["expiry_flag"] is None
    assert second["access_assignments"] == [
        {
            "security_group_id": "group-1",
            "security_group_name": "Helpdesk agents",
            "roles": [{"id": SERVICE_SUPPORT_ADMIN, "name": "Service Support Administrator"}],
            "status": "active",
            "status_label": "Active",
        }
    ]


def test_relationship_expiry_flag(client_for):
    customer = make_customer()
    add_relationship(customer, ends_in_days=5)
    response = client_for("helpdesk_agent").get(detail_url(customer, "relationships/"))
    assert response.json()[0]["expiry_flag"] == 7


def test_adding_a_subscription_goes_through_the_service(client_for, cast):
    customer = make_customer()
    Customer.objects.filter(pk=customer.pk).update(modified_at=timezone.now() - timedelta(days=1))
    response = client_for("admin_agent").post(
        detail_url(customer, "subscriptions/"),
        {"service_family": "microsoft_365", "offer_name": "Microsoft 365 E5", "quantity": 40},
        content_type="application/json",
    )
    assert response.status_code == 201
    subscription = customer.subscriptions.get()
    assert response.json()["id"] == subscription.pk
    assert response.json()["status"] == "active"
    entry = AuditEntry.objects.get(action="subscription.created")
    assert entry.actor == cast["admin_agent"]
    assert entry.after["quantity"] == 40
    customer.refresh_from_db()
    assert customer.modified_at > timezone.now() - timedelta(minutes=1)
    listed = client_for("helpdesk_agent").get(detail_url(customer, "subscriptions/")).json()
    assert [row["offer_name"] for row in listed] == ["Microsoft 365 E5"]


def test_an_invalid_subscription_is_a_field_error(client_for):
    customer = make_customer()
    response = client_for("admin_agent").post(
        detail_url(customer, "subscriptions/"),
        {"service_family": "mainframe", "offer_name": "", "quantity": -1},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert error_attrs(response) == {"service_family", "offer_name", "quantity"}
    assert not customer.subscriptions.exists()


# --- query budget -----------------------------------------------------------------------------


def _add_customers(count):
    for _n in range(count):
        make_customer(
            tags=["gold", f"t{uuid.uuid4().hex[:6]}"],
            contacts=[{"name": "Sam Lee", "role": "primary"}, {"name": "Ari", "role": "billing"}],
        )


def test_list_queries_do_not_grow_with_rows(client_for, list_budget):
    signed_in = client_for("helpdesk_agent")
    first, response, queries = list_budget(lambda: signed_in.get(LIST_URL), _add_customers)
    assert len(first.json()["results"]) == 5
    results = response.json()["results"]
    assert len(results) == 40
    assert all(len(row["tags"]) == 2 and len(row["contacts"]) == 2 for row in results)
    # 9 of them are the session, allauth's user-session tracking and the permission checks.
    assert queries <= 12


def test_list_with_a_token_has_the_same_budget(api_token_for, list_budget):
    token = api_token_for(Role.HELPDESK_AGENT, scopes=["read"])
    _first, response, _queries = list_budget(
        lambda: Client().get(LIST_URL, **bearer(token)), _add_customers
    )
    assert len(response.json()["results"]) == 40


def test_schema_documents_the_customer_endpoints(client_for):
    body = schema_text(client_for)
    for path in (
        "/api/v1/customers/",
        "/api/v1/customers/{tenant_id}/",
        "/api/v1/customers/{tenant_id}/subscriptions/",
        "/api/v1/customers/{tenant_id}/relationships/",
    ):
        assert path in body
    assert "modified_since" in body
