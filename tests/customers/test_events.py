"""customer.updated and gdap.expiring: one event per real change (or per end date), written in the
transaction of the change, carrying the object as the API shows it."""

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.models import Event, EventTypeChoices
from customers import gdap, gdap_sync, services, tasks
from customers.models import Customer, DelegatedAdminRelationship
from tests.customers.factories import CustomerFactory, RelationshipFactory
from tests.customers.test_gdap_sync import add, client
from tests.helpers import Boom

UPDATED = EventTypeChoices.CUSTOMER_UPDATED
EXPIRING = EventTypeChoices.GDAP_EXPIRING


pytestmark = pytest.mark.usefixtures("portal_at_testserver")


def events_of(type_):
    return list(Event.objects.filter(type=type_).order_by("pk"))


def make_customer(**fields):
    values = {
        "tenant_id": "0d5e2c4a-1111-4222-8333-944455556666",
        "company_name": "Contoso Ltd",
        "tags": ["vip"],
        "default_domain": "contoso.onmicrosoft.com",
        "country": "GB",
        "contacts": [
            {"name": "Ana", "email": "ana@contoso.example", "phone": "", "role": "primary"}
        ],
        **fields,
    }
    return services.create_customer(actor=None, **values)


# --- customer.updated ---------------------------------------------------------------------------


def test_an_edit_records_the_customer_and_the_fields_that_changed(db, client_for):
    customer = make_customer()
    assert events_of(UPDATED) == []  # creating is not an update
    services.update_customer(customer, actor=None, company_name="Contoso Group", tags=["vip", "eu"])
    [event] = events_of(UPDATED)
    assert event.summary == "Contoso Group: company_name, tags"
    assert event.object_type == "customer"
    assert event.object_id == str(customer.tenant_id)
    assert event.tenant_id == customer.tenant_id
    assert event.consolidation_key == f"customer:{customer.tenant_id}"
    detail = f"/api/v1/customers/{customer.tenant_id}/"
    assert event.object_url == f"http://testserver{detail}"
    assert event.payload == client_for("helpdesk_agent").get(detail).json()
    assert event.payload["tags"] == ["eu", "vip"]


def test_a_save_that_changes_nothing_records_nothing(db, client_for):
    customer = make_customer()
    services.update_customer(
        customer,
        actor=None,
        company_name="Contoso Ltd",
        default_domain="CONTOSO.onmicrosoft.com",  # stored lower-cased: the same value
        tags=["VIP"],
        contacts=[{"name": "Ana", "email": "ana@contoso.example", "role": "primary"}],
    )
    assert events_of(UPDATED) == []
    url = f"/api/v1/customers/{customer.tenant_id}/"
    api = client_for("admin_agent")
    assert api.patch(url, {"notes": ""}, content_type="application/json").status_code == 200
    assert events_of(UPDATED) == []
    assert api.patch(url, {"notes": "Call first"}, content_type="application/json").json()
    [event] = events_of(UPDATED)
    assert event.summary == "Contoso Ltd: notes"
    assert event.payload["notes"] == "Call first"


def test_an_edit_in_the_portal_is_recorded_with_only_what_changed(db, client_for):
    customer = make_customer()
    # What the browser sends back from the edit page: the contact as shown, a blank extra form
    # (its role select on its first option), and the one field the admin changed.
    response = client_for("admin_agent").post(
        f"/customers/{customer.tenant_id}/edit/",
        {
            "company_name": "Contoso Ltd",
            "default_domain": "contoso.onmicrosoft.com",
            "other_domains": "",
            "country": "TR",
            "relationship": "reseller",
            "tags": "vip",
            "notes": "",
            "contacts-TOTAL_FORMS": "2",
            "contacts-INITIAL_FORMS": "1",
            "contacts-0-name": "Ana",
            "contacts-0-email": "ana@contoso.example",
            "contacts-0-phone": "",
            "contacts-0-role": "primary",
            "contacts-1-name": "",
            "contacts-1-email": "",
            "contacts-1-phone": "",
            "contacts-1-role": "primary",
        },
    )
    assert response.status_code == 302
    assert [event.summary for event in events_of(UPDATED)] == ["Contoso Ltd: country"]
    assert list(customer.contacts.values_list("name", flat=True)) == ["Ana"]


def test_a_customer_event_rolls_back_with_its_change(db):
    customer = make_customer()
    with pytest.raises(Boom), transaction.atomic():
        services.update_customer(customer, actor=None, company_name="Renamed")
        raise Boom
    assert Customer.objects.get().company_name == "Contoso Ltd"
    assert not Event.objects.exists()


def test_a_change_of_delegated_access_updates_the_customer(db, client_for):
    customer = make_customer()
    now = timezone.now()
    relationship = services.save_relationship(
        DelegatedAdminRelationship(customer=customer),
        actor=None,
        microsoft_id=f"5e5594d3-6f82-458b-b567-77db4811f0cd-{customer.tenant_id}",
        display_name="Helpdesk",
        status=gdap.RelationshipStatusChoices.ACTIVE,
        duration="P730D",
        roles=["f023fd81-a637-4b56-95fd-791ac0226033"],
        activated_on=now,
        ends_on=now + timedelta(days=300),
    )
    [event] = events_of(UPDATED)
    assert event.summary == "Contoso Ltd: gdap_state, gdap_access_until"
    assert event.payload["gdap_state"] == "active"
    assert event.payload == client_for("helpdesk_agent").get(event.object_url).json()
    # A change that leaves the customer's access as it was is no change of the customer.
    services.save_relationship(relationship, actor=None, display_name="Helpdesk (renamed)")
    assert len(events_of(UPDATED)) == 1
    services.save_relationship(relationship, actor=None, status="terminated")
    assert events_of(UPDATED)[-1].payload["gdap_state"] == "expired"


def test_a_sync_records_one_update_per_customer_and_a_re_sync_none(db, graph_simulator):
    simulator, graph = graph_simulator
    customers = [CustomerFactory(), CustomerFactory()]
    for n in range(3):
        add(simulator, customers[0], n, ends_in_days=100 + n)
    add(simulator, customers[1], 9, status="approvalPending")  # grants no access yet
    gdap_sync.run(client(graph))
    [event] = events_of(UPDATED)
    assert event.tenant_id == customers[0].tenant_id
    assert event.summary.endswith(": gdap_state, gdap_access_until")
    assert event.payload["gdap_access_until"] is not None
    gdap_sync.run(client(graph))
    assert len(events_of(UPDATED)) == 1


# --- gdap.expiring ------------------------------------------------------------------------------


def test_a_relationship_nearing_its_end_is_warned_once(db, client_for):
    relationship = RelationshipFactory(
        ends_in=timedelta(days=10), customer__company_name="Fabrikam"
    )
    tenant_id = relationship.customer.tenant_id
    [event] = services.warn_expiring_relationships()
    assert event.type == EXPIRING
    assert event.object_type == "gdap_relationship"
    assert event.object_id == relationship.microsoft_id  # two GUIDs: 73 characters
    assert event.consolidation_key == f"gdap:{relationship.microsoft_id}:{tenant_id}"
    assert event.tenant_id == tenant_id
    listed = client_for("helpdesk_agent").get(event.object_url).json()
    assert event.payload == next(r for r in listed if r["microsoft_id"] == event.object_id)
    assert event.payload["expiry_flag"] == 30
    assert event.summary.startswith(
        f'Fabrikam: delegated access "{relationship.display_name}" ends'
    )
    assert services.warn_expiring_relationships() == []
    assert len(events_of(EXPIRING)) == 1


def test_only_relationships_granting_access_within_the_window_are_warned(db, settings):
    settings.GDAP_EXPIRY_WARNING_DAYS = 7
    soon = RelationshipFactory(ends_in=timedelta(days=5))
    RelationshipFactory(ends_in=timedelta(days=10))  # outside the window
    RelationshipFactory(ends_in=timedelta(days=-1))  # already ended
    RelationshipFactory(ends_in=timedelta(days=3), status=gdap.RelationshipStatusChoices.TERMINATED)
    RelationshipFactory(ends_in=timedelta(days=3), status="approvalPending")
    assert [event.object_id for event in services.warn_expiring_relationships()] == [
        soon.microsoft_id
    ]


def test_an_extended_relationship_is_warned_again_when_its_new_end_nears(db):
    relationship = RelationshipFactory(ends_in=timedelta(days=10))
    assert len(services.warn_expiring_relationships()) == 1
    # A copy read before the warning (the GDAP sync's) saving a change must not undo its mark.
    stale = DelegatedAdminRelationship.objects.get(pk=relationship.pk)
    stale.expiry_warned_for = None
    services.save_relationship(stale, actor=None, display_name="Renamed")
    assert services.warn_expiring_relationships() == []
    new_end = relationship.ends_on + timedelta(days=180)
    services.save_relationship(relationship, actor=None, ends_on=new_end)
    assert services.warn_expiring_relationships() == []  # 190 days left
    later = new_end - timedelta(days=20)
    [event] = services.warn_expiring_relationships(now=later)
    assert event.object_id == relationship.microsoft_id
    assert services.warn_expiring_relationships(now=later) == []


def test_a_warning_rolls_back_with_its_mark(db):
    RelationshipFactory(ends_in=timedelta(days=10))
    with pytest.raises(Boom), transaction.atomic():
        assert len(services.warn_expiring_relationships()) == 1
        raise Boom
    assert events_of(EXPIRING) == []
    assert len(services.warn_expiring_relationships()) == 1  # the mark rolled back too


def test_warning_many_relationships_takes_no_more_queries_than_warning_a_few(db):
    def queries_to_warn(count):
        for _n in range(count):
            RelationshipFactory(ends_in=timedelta(days=10))
        with CaptureQueriesContext(connection) as queries:
            assert len(services.warn_expiring_relationships()) == count
        return len(queries)

    assert queries_to_warn(2) == queries_to_warn(12)


def test_beat_runs_the_warning_hourly(db):
    entry = next(
        entry
        for entry in django_settings.CELERY_BEAT_SCHEDULE.values()
        if entry["task"] == "customers.tasks.warn_expiring_gdap"
    )
    assert entry["schedule"] == timedelta(hours=1)
    RelationshipFactory(ends_in=timedelta(days=2))
    tasks.warn_expiring_gdap()
    assert len(events_of(EXPIRING)) == 1
