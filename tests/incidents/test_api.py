"""The incidents API across the role matrix: the list and its filters, incremental sync, posts,
acknowledging, and the query budget."""

import hashlib
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.roles import Role
from core.models import AuditEntry
from incidents import services
from incidents.models import Acknowledgement, AffectedCustomer, Incident, IncidentPost
from tests.customers.factories import CustomerFactory
from tests.helpers import SUPPORT_READS, all_pages, key_set, schema_text, sync_stamps

LIST_URL = "/api/v1/incidents/"

READS = SUPPORT_READS
ACKNOWLEDGES = {
    "global_admin": 201,
    "admin_agent": 201,
    "helpdesk_agent": 201,
    "user_management_admin": 404,
    "no_role": 404,
    "anonymous": 401,
}


def bearer(token):
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


_numbers = iter(range(100000, 999999))


def make_incident(microsoft_id=None, customers=(), **fields):
    values = {
        "microsoft_id": microsoft_id or f"EX{next(_numbers)}",
        "classification": "incident",
        "status": "serviceDegradation",
        "title": "Users can't send email",
        "impact_description": "Users may be unable to send email from Outlook.",
        "service": "Exchange Online",
        "feature": "E-Mail and calendar access",
        "feature_group": "E-Mail and calendar access",
        "origin": "microsoft",
        "is_resolved": False,
        "high_impact": True,
        "started_at": timezone.now() - timedelta(hours=3),
        "last_modified_at": timezone.now() - timedelta(hours=1),
        **fields,
    }
    incident = Incident.objects.create(**values)
    for customer in customers:
        AffectedCustomer.objects.create(incident=incident, customer=customer)
    return incident


def add_post(incident, posted_at, content, post_type="regular"):
    return IncidentPost.objects.create(
        incident=incident,
        posted_at=posted_at,
        post_type=post_type,
        content=content,
        fingerprint=hashlib.sha256(f"{posted_at}{content}".encode()).hexdigest(),
    )


def stamp(incident, modified_at):
    # QuerySet.update() bypasses auto_now: the stamp is exactly this.
    Incident.objects.filter(pk=incident.pk).update(modified_at=modified_at)


def detail_url(incident, suffix=""):
    return f"{LIST_URL}{incident.microsoft_id}/{suffix}"


def ids(response):
    assert response.status_code == 200, response.content
    return [row["microsoft_id"] for row in response.json()["results"]]


# --- the role matrix --------------------------------------------------------------------------


@pytest.mark.parametrize("principal, expected", READS.items())
def test_list_by_role(principal, expected, client_for):
    incident = make_incident()
    response = client_for(principal).get(LIST_URL)
    assert response.status_code == expected
    if expected == 200:
        assert ids(response) == [incident.microsoft_id]


@pytest.mark.parametrize("principal, expected", READS.items())
def test_retrieve_by_role(principal, expected, client_for):
    incident = make_incident(title="Mail flow delays")
    response = client_for(principal).get(detail_url(incident))
    assert response.status_code == expected
    if expected == 200:
        assert response.json()["title"] == "Mail flow delays"


@pytest.mark.parametrize("principal, expected", READS.items())
def test_posts_by_role(principal, expected, client_for):
    incident = make_incident()
    add_post(incident, timezone.now(), "<p>Investigating.</p>")
    response = client_for(principal).get(detail_url(incident, "posts/"))
    assert response.status_code == expected
    if expected == 200:
        assert len(response.json()) == 1


@pytest.mark.parametrize("principal, expected", ACKNOWLEDGES.items())
def test_acknowledge_by_role(principal, expected, client_for):
    incident = make_incident()
    response = client_for(principal).post(
        detail_url(incident, "acknowledge/"), {"note": "On it"}, content_type="application/json"
    )
    assert response.status_code == expected
    assert incident.acknowledgements.count() == (1 if expected == 201 else 0)


def test_a_read_only_token_reads_but_cannot_acknowledge(api_token_for):
    token = api_token_for(Role.HELPDESK_AGENT, scopes=["read"])
    incident = make_incident()
    assert Client().get(detail_url(incident), **bearer(token)).status_code == 200
    response = Client().post(
        detail_url(incident, "acknowledge/"),
        {"note": "On it"},
        content_type="application/json",
        **bearer(token),
    )
    assert response.status_code == 403
    assert "write" in response.json()["errors"][0]["detail"]
    assert not Acknowledgement.objects.exists()
    assert not AuditEntry.objects.filter(action="incident.acknowledged").exists()


def test_a_token_acknowledges_as_its_api_client(api_token_for):
    token = api_token_for(Role.HELPDESK_AGENT, scopes=["read", "write"])
    incident = make_incident()
    response = Client().post(
        detail_url(incident, "acknowledge/"),
        {"note": "Ticket #4411 opened in the PSA"},
        content_type="application/json",
        **bearer(token),
    )
    assert response.status_code == 201
    acknowledgement = Acknowledgement.objects.get()
    assert acknowledgement.user.is_api_client
    assert response.json()["user_name"] == acknowledgement.user.full_name


def test_incidents_are_read_only(client_for):
    incident = make_incident()
    signed_in = client_for("global_admin")
    assert signed_in.post(LIST_URL, {}, content_type="application/json").status_code == 405
    assert signed_in.delete(detail_url(incident)).status_code == 405
    response = signed_in.patch(
        detail_url(incident), {"title": "x"}, content_type="application/json"
    )
    assert response.status_code == 405


@pytest.mark.parametrize("microsoft_id", ["EX000001", "not-there", "EX%201"])
def test_an_unknown_incident_is_not_found(microsoft_id, client_for):
    make_incident()
    response = client_for("helpdesk_agent").get(f"{LIST_URL}{microsoft_id}/")
    assert response.status_code == 404


# --- representation ---------------------------------------------------------------------------


def test_an_incident_is_represented_with_customers_and_acknowledgements(client_for, cast):
    contoso = CustomerFactory(company_name="Contoso Ltd")
    fabrikam = CustomerFactory(company_name="Fabrikam Inc")
    incident = make_incident("EX123456", customers=[fabrikam, contoso], status="someFutureStatus")
    services.acknowledge(incident, user=cast["admin_agent"], note="First look")
    services.acknowledge(incident, user=cast["helpdesk_agent"], note="Customers told")
    response = client_for("helpdesk_agent").get(detail_url(incident))
    assert response.status_code == 200
    data = response.json()
    assert set(data) == key_set(
        "url microsoft_id classification status status_label title impact_description service"
        " feature feature_group origin is_resolved high_impact started_at ended_at"
        " last_modified_at affected_customers acknowledgement_count last_acknowledgement"
        " created_at modified_at"
    )
    assert data["url"] == "http://testserver/api/v1/incidents/EX123456/"
    assert data["microsoft_id"] == "EX123456"
    # A status Microsoft adds later is shown as sent.
    assert data["status"] == data["status_label"] == "someFutureStatus"
    assert data["affected_customers"] == [
        {"tenant_id": str(contoso.tenant_id), "company_name": "Contoso Ltd"},
        {"tenant_id": str(fabrikam.tenant_id), "company_name": "Fabrikam Inc"},
    ]
    assert data["acknowledgement_count"] == 2
    last = data["last_acknowledgement"]
    assert last["user"] == "helpdesk-agent@partner.example"
    assert last["note"] == "Customers told"
    assert last["created_at"]
    assert data["ended_at"] is None


def test_an_unacknowledged_incident_has_no_last_acknowledgement(client_for):
    incident = make_incident(status="serviceDegradation")
    data = client_for("helpdesk_agent").get(detail_url(incident)).json()
    assert data["acknowledgement_count"] == 0
    assert data["last_acknowledgement"] is None
    assert data["status_label"] == "Degradation"
    assert data["affected_customers"] == []


# --- filters ----------------------------------------------------------------------------------


def test_filter_by_state(client_for):
    active = make_incident()
    resolved = make_incident(is_resolved=True, status="serviceRestored")
    signed_in = client_for("helpdesk_agent")
    assert ids(signed_in.get(LIST_URL, {"state": "active"})) == [active.microsoft_id]
    assert ids(signed_in.get(LIST_URL, {"state": "resolved"})) == [resolved.microsoft_id]
    response = signed_in.get(LIST_URL, {"state": "sleeping"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "state"


def test_filter_by_classification_status_and_service(client_for):
    incident = make_incident(classification="incident", service="Exchange Online")
    advisory = make_incident(
        classification="advisory", service="Microsoft Teams", status="investigating"
    )
    signed_in = client_for("helpdesk_agent")
    assert ids(signed_in.get(LIST_URL, {"classification": "advisory"})) == [advisory.microsoft_id]
    assert ids(signed_in.get(LIST_URL, {"status": "investigating"})) == [advisory.microsoft_id]
    assert ids(signed_in.get(LIST_URL, {"service": "Exchange Online"})) == [incident.microsoft_id]
    assert ids(signed_in.get(LIST_URL, {"service": "SharePoint Online"})) == []


def test_filter_by_customer_lists_each_incident_once(client_for):
    contoso, fabrikam = CustomerFactory(), CustomerFactory()
    both = make_incident(customers=[contoso, fabrikam])
    only_fabrikam = make_incident(customers=[fabrikam])
    make_incident()
    signed_in = client_for("helpdesk_agent")
    assert ids(signed_in.get(LIST_URL, {"customer": str(contoso.tenant_id)})) == [both.microsoft_id]
    assert sorted(ids(signed_in.get(LIST_URL, {"customer": str(fabrikam.tenant_id)}))) == sorted(
        [both.microsoft_id, only_fabrikam.microsoft_id]
    )
    response = signed_in.get(LIST_URL, {"customer": "not-a-tenant"})
    assert response.status_code == 400


@pytest.mark.parametrize("query", ["ex424242", "CALENDAR SYNC", "mobile devices"])
def test_search_by_id_title_or_impact(query, client_for):
    wanted = make_incident(
        "EX424242",
        title="Calendar sync delays",
        impact_description="Users on mobile devices see stale calendars.",
    )
    make_incident(title="Mail flow delays", impact_description="Some email is late.")
    response = client_for("helpdesk_agent").get(LIST_URL, {"q": query})
    assert ids(response) == [wanted.microsoft_id]


def test_filters_combine(client_for):
    customer = CustomerFactory()
    wanted = make_incident(customers=[customer], classification="advisory")
    make_incident(customers=[customer], classification="incident")
    make_incident(classification="advisory")
    response = client_for("helpdesk_agent").get(
        LIST_URL, {"customer": str(customer.tenant_id), "classification": "advisory"}
    )
    assert ids(response) == [wanted.microsoft_id]


# --- incremental sync -------------------------------------------------------------------------


def test_modified_since_pages_through_each_incident_exactly_once(client_for):
    cutoff = timezone.now() - timedelta(hours=1)
    stamps = sync_stamps(cutoff)
    incidents = {}
    for label, moment in stamps.items():
        incidents[label] = make_incident()
        stamp(incidents[label], moment)
    signed_in = client_for("helpdesk_agent")
    response = signed_in.get(LIST_URL, {"modified_since": cutoff.isoformat(), "page_size": 2})
    pages = all_pages(signed_in, response)
    seen, modified = [], []
    for page in pages:
        seen += ids(page)
        modified += [row["modified_at"] for row in page.json()["results"]]
    # modified_since is exclusive: the row stamped exactly at it came with an earlier poll.
    expected = {incidents[label].microsoft_id for label in stamps if label not in ("before", "at")}
    assert len(seen) == len(set(seen)) == 4
    assert set(seen) == expected
    assert len(pages) == 2
    assert seen[0] == incidents["tie-1"].microsoft_id
    assert seen[-1] == incidents["after"].microsoft_id
    assert modified == sorted(modified)


def test_an_incident_changed_while_paging_comes_back_at_the_end(client_for, settings):
    # The change below is fresh: served at once, without the settle window.
    settings.API_SYNC_SETTLE_SECONDS = 0
    start = timezone.now() - timedelta(hours=1)
    incidents = [make_incident() for _n in range(4)]
    for n, incident in enumerate(incidents):
        stamp(incident, start + timedelta(minutes=n))
    signed_in = client_for("helpdesk_agent")
    since = (start - timedelta(seconds=1)).isoformat()
    first = signed_in.get(LIST_URL, {"modified_since": since, "page_size": 2})
    assert ids(first) == [i.microsoft_id for i in incidents[:2]]
    incidents[0].status = "serviceRestored"
    incidents[0].save()
    rest, url = [], first.json()["next"]
    while url:
        page = signed_in.get(url)
        rest += ids(page)
        url = page.json()["next"]
    assert rest == [incidents[2].microsoft_id, incidents[3].microsoft_id, incidents[0].microsoft_id]


# --- posts ------------------------------------------------------------------------------------


def test_posts_are_listed_oldest_first(client_for):
    incident = make_incident()
    now = timezone.now()
    add_post(incident, now - timedelta(hours=1), "<p>Second</p>")
    add_post(incident, now, "<p>Third</p>", post_type="strategic")
    add_post(incident, now - timedelta(hours=2), "<p>First</p>")
    add_post(make_incident(), now, "<p>Another incident</p>")
    response = client_for("helpdesk_agent").get(detail_url(incident, "posts/"))
    assert response.status_code == 200
    posts = response.json()
    assert [post["content"] for post in posts] == ["<p>First</p>", "<p>Second</p>", "<p>Third</p>"]
    assert set(posts[0]) == {"posted_at", "post_type", "content_type", "content"}
    assert posts[2]["post_type"] == "strategic"
    assert posts[0]["content_type"] == "html"


# --- acknowledging ----------------------------------------------------------------------------


def test_acknowledging_writes_an_acknowledgement_and_an_audit_entry(client_for, cast):
    incident = make_incident("EX777777")
    response = client_for("helpdesk_agent").post(
        detail_url(incident, "acknowledge/"),
        {"note": "Customers informed"},
        content_type="application/json",
    )
    assert response.status_code == 201
    acknowledgement = Acknowledgement.objects.get(incident=incident)
    assert acknowledgement.user == cast["helpdesk_agent"]
    assert acknowledgement.note == "Customers informed"
    assert response.json() == {
        "user": "helpdesk-agent@partner.example",
        "user_name": cast["helpdesk_agent"].get_full_name(),
        "note": "Customers informed",
        "created_at": response.json()["created_at"],
    }
    entry = AuditEntry.objects.get(action="incident.acknowledged")
    assert entry.actor == cast["helpdesk_agent"]
    assert entry.target_id == str(incident.pk)
    assert entry.after == {"note": "Customers informed"}
    assert entry.ip_address == "127.0.0.1"
    listed = client_for("admin_agent").get(detail_url(incident)).json()
    assert listed["acknowledgement_count"] == 1
    assert listed["last_acknowledgement"]["note"] == "Customers informed"


def test_the_note_is_optional(client_for):
    incident = make_incident()
    response = client_for("admin_agent").post(detail_url(incident, "acknowledge/"))
    assert response.status_code == 201
    assert response.json()["note"] == ""


def test_an_overlong_note_is_a_field_error(client_for):
    incident = make_incident()
    response = client_for("admin_agent").post(
        detail_url(incident, "acknowledge/"), {"note": "x" * 5000}, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "note"
    assert not Acknowledgement.objects.exists()


# --- query budget -----------------------------------------------------------------------------


def _add_incidents(count, customers, users):
    for _n in range(count):
        incident = make_incident(customers=customers)
        for user in users:
            Acknowledgement.objects.create(incident=incident, user=user, note="seen")


def test_list_queries_do_not_grow_with_rows(client_for, cast, list_budget):
    customers = [CustomerFactory() for _n in range(3)]
    users = [cast["helpdesk_agent"], cast["admin_agent"]]
    signed_in = client_for("helpdesk_agent")
    first, response, queries = list_budget(
        lambda: signed_in.get(LIST_URL), lambda n: _add_incidents(n, customers, users)
    )
    assert len(first.json()["results"]) == 5
    results = response.json()["results"]
    assert len(results) == 40
    assert all(len(row["affected_customers"]) == 3 for row in results)
    assert all(row["acknowledgement_count"] == 2 for row in results)
    assert queries <= 12


def test_list_with_a_token_has_the_same_budget(api_token_for, cast, list_budget):
    token = api_token_for(Role.HELPDESK_AGENT, scopes=["read"])
    customers = [CustomerFactory() for _n in range(2)]
    _first, response, _queries = list_budget(
        lambda: Client().get(LIST_URL, **bearer(token)),
        lambda n: _add_incidents(n, customers, [cast["helpdesk_agent"]]),
    )
    assert len(response.json()["results"]) == 40


def test_schema_documents_the_incident_endpoints(client_for):
    body = schema_text(client_for)
    for path in (
        "/api/v1/incidents/",
        "/api/v1/incidents/{microsoft_id}/",
        "/api/v1/incidents/{microsoft_id}/posts/",
        "/api/v1/incidents/{microsoft_id}/acknowledge/",
    ):
        assert path in body
    assert "modified_since" in body
