import re
from collections import Counter
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from core.models import AuditEntry
from customers import gdap
from customers.choices import CustomerRelationshipChoices
from customers.gdap import GdapStateChoices, RelationshipStatusChoices
from customers.models import (
    AccessAssignment,
    Contact,
    Customer,
    DelegatedAdminRelationship,
    Subscription,
    Tag,
    validate_domain,
)

MODELS = [Customer, Contact, Tag, Subscription, DelegatedAdminRelationship, AccessAssignment]
GUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
GRAPH_RELATIONSHIP_ID = re.compile(f"^{GUID}-{GUID}$")


def load_demo():
    out = StringIO()
    call_command("load_demo", stdout=out)
    return out.getvalue()


def counts():
    return {model.__name__: model.objects.count() for model in [*MODELS, AuditEntry]}


@pytest.fixture
def demo(db):
    load_demo()


def test_loading_twice_creates_and_changes_nothing_the_second_time(db):
    first_output = load_demo()
    first = counts()
    modified = dict(Customer.objects.values_list("tenant_id", "modified_at"))
    second_output = load_demo()
    assert counts() == first
    assert all(first[model.__name__] > 0 for model in MODELS), first
    assert f"Demo customers: {first['Customer']} created, 0 already there." in first_output
    assert f"Demo customers: 0 created, {first['Customer']} already there." in second_output
    assert "Demo users: 0 created, 4 already there." in second_output
    # Existing customers are skipped entirely, not updated.
    assert dict(Customer.objects.values_list("tenant_id", "modified_at")) == modified


def test_the_data_is_the_same_on_every_load(db):
    def snapshot():
        return {
            "customers": sorted(
                Customer.objects.values_list(
                    "tenant_id", "company_name", "default_domain", "country", "relationship"
                )
            ),
            "contacts": sorted(Contact.objects.values_list("customer__tenant_id", "name", "email")),
            "subscriptions": sorted(
                Subscription.objects.values_list("customer__tenant_id", "offer_name", "quantity")
            ),
            "relationships": sorted(
                DelegatedAdminRelationship.objects.values_list(
                    "microsoft_id", "display_name", "status", "duration"
                )
            ),
        }

    load_demo()
    first = snapshot()
    # Demo service requests and feed sources hang on the customers: clear them first.
    from servicehealth.models import FeedSource
    from servicerequests.models import ServiceRequest

    ServiceRequest.objects.all().delete()
    FeedSource.objects.all().delete()
    Customer.objects.all().delete()
    load_demo()
    assert snapshot() == first


def test_about_sixty_customers_with_realistic_details(demo):
    customers = list(Customer.objects.prefetch_related("contacts", "subscriptions", "tags"))
    assert 55 <= len(customers) <= 65
    assert {c.relationship for c in customers} == set(CustomerRelationshipChoices.values)
    assert len({c.country for c in customers}) >= 6
    assert any(c.other_domains for c in customers)
    tags = set(Tag.objects.values_list("name", flat=True))
    assert {"vip", "healthcare", "finance", "education", "public-sector", "24x7", "smb"} <= tags
    for customer in customers:
        for domain in customer.all_domains:
            validate_domain(domain)
        contacts = list(customer.contacts.all())
        assert 1 <= len(contacts) <= 3, customer
        for contact in contacts:
            assert contact.email.split("@")[1] in customer.all_domains, contact.email
            assert contact.phone.startswith("+"), contact.phone
        assert 1 <= len(customer.subscriptions.all()) <= 5, customer
    statuses = Counter(Subscription.objects.values_list("status", flat=True))
    assert statuses["active"] > sum(statuses.values()) / 2
    assert {"suspended", "expired", "pending"} <= set(statuses)


def test_every_relationship_status_appears(demo):
    statuses = set(DelegatedAdminRelationship.objects.values_list("status", flat=True))
    known = set(RelationshipStatusChoices.values) - {RelationshipStatusChoices.UNKNOWN_FUTURE_VALUE}
    assert known - statuses == set()


def test_an_unknown_future_status_is_kept_as_sent(demo):
    relationship = DelegatedAdminRelationship.objects.get(status="suspendedByMicrosoft")
    assert not relationship.is_known_status
    assert relationship.status_label == "suspendedByMicrosoft"
    assert not relationship.grants_access


def test_every_gdap_state_has_customers(demo):
    for state in GdapStateChoices:
        assert Customer.objects.with_gdap_state(state).exists(), state
    without_relationships = Customer.objects.filter(relationships__isnull=True)
    assert 4 <= without_relationships.count() <= 6
    assert set(without_relationships.values_list("gdap_ever_active", flat=True)) == {False}


def test_relationships_are_flagged_at_every_threshold(demo):
    flags = Counter(r.expiry_flag for r in DelegatedAdminRelationship.objects.all())
    for days in gdap.EXPIRY_THRESHOLDS_DAYS:
        assert flags[days] >= 3, (days, flags)
    # Most access runs for months.
    assert flags[None] > sum(flags[days] for days in gdap.EXPIRY_THRESHOLDS_DAYS)


def test_global_administrator_relationships_cannot_auto_extend(demo):
    relationships = list(DelegatedAdminRelationship.objects.all())
    with_global_admin = [r for r in relationships if r.includes_global_administrator]
    assert with_global_admin
    assert not any(r.can_auto_extend for r in with_global_admin)
    # The Global Administrator rule, not a PT0S duration, is what stops one of them.
    assert any(r.auto_extend_duration != "PT0S" for r in with_global_admin)
    # Least-privileged relationships are the norm, and many of them auto-extend.
    assert len(with_global_admin) < len(relationships) / 5
    assert any(r.can_auto_extend for r in relationships)


def test_relationships_are_shaped_like_graph(demo):
    now = timezone.now()
    for relationship in DelegatedAdminRelationship.objects.prefetch_related("access_assignments"):
        assert GRAPH_RELATIONSHIP_ID.match(relationship.microsoft_id), relationship.microsoft_id
        assert relationship.microsoft_id.endswith(str(relationship.customer.tenant_id))
        assert len(relationship.display_name) <= 50
        assert relationship.duration in ("P730D", "P365D", "P180D", "P90D")
        assert relationship.auto_extend_duration in ("P180D", "PT0S")
        assert relationship.roles
        assert set(relationship.roles) <= set(gdap.ENTRA_ROLES)
        assignments = list(relationship.access_assignments.all())
        if relationship.status in (
            RelationshipStatusChoices.CREATED,
            RelationshipStatusChoices.APPROVAL_PENDING,
        ):
            assert relationship.activated_on is None and relationship.ends_on is None
        if relationship.status in gdap.ENDED_STATUSES:
            assert relationship.ends_on < now
        if relationship.status in gdap.ACCESS_STATUSES:
            assert relationship.activated_on < now < relationship.ends_on
            assert 1 <= len(assignments) <= 2, relationship
        else:
            assert assignments == []
        for assignment in assignments:
            assert re.fullmatch(GUID, assignment.security_group_id)
            assert assignment.security_group_name
            assert assignment.status == "active"
            assert assignment.roles and set(assignment.roles) <= set(relationship.roles)


def test_customer_gdap_summary_matches_the_relationships(demo):
    for customer in Customer.objects.prefetch_related("relationships"):
        access = [r.ends_on for r in customer.relationships.all() if r.grants_access]
        assert customer.gdap_access_until == (max(access) if access else None), customer


def test_changes_go_through_the_services_with_audit_entries(demo):
    actions = Counter(AuditEntry.objects.values_list("action", flat=True))
    assert actions["customer.created"] == Customer.objects.count()
    assert actions["subscription.created"] == Subscription.objects.count()
    assert actions["gdap.relationship_created"] == DelegatedAdminRelationship.objects.count()
