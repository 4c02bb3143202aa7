from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from core.models import AuditEntry
from incidents.forms import tomorrow_at_nine
from incidents.models import Acknowledgement, Snooze
from incidents.templatetags.incident_posts import html_to_text
from tests.customers.factories import CustomerFactory
from tests.helpers import SUPPORT_PAGES, query_counter
from tests.incidents.factories import (
    AffectedCustomerFactory,
    IncidentFactory,
    IncidentPostFactory,
)


def listed_ids(response):
    return [incident.microsoft_id for incident in response.context["page"].object_list]


def acknowledge_url(incident):
    return reverse("incidents:acknowledge", args=[incident.microsoft_id])


def snooze_url(incident):
    return reverse("incidents:snooze", args=[incident.microsoft_id])


def assert_cannot_acknowledge_or_snooze(client, incident, status):
    assert client.post(acknowledge_url(incident), {"note": "x"}).status_code == status
    assert client.post(snooze_url(incident), {"duration": "1h"}).status_code == status
    assert not Acknowledgement.objects.exists()
    assert not Snooze.objects.exists()


# --- who may see what ---------------------------------------------------------------------------


@pytest.mark.parametrize("principal, expected", SUPPORT_PAGES)
def test_incidents_are_for_support_roles(principal, expected, client_for):
    incident = IncidentFactory(microsoft_id="EX123456")
    client = client_for(principal)
    assert client.get(reverse("incidents:list")).status_code == expected
    assert client.get("/incidents/EX123456/").status_code == expected
    assert incident.get_absolute_url() == "/incidents/EX123456/"


def test_an_unknown_incident_is_not_found(client_for):
    assert client_for("helpdesk_agent").get("/incidents/EX000000/").status_code == 404


@pytest.mark.parametrize("principal", ["helpdesk_agent", "admin_agent", "global_admin"])
def test_support_roles_acknowledge_with_a_note(principal, client_for, cast):
    incident = IncidentFactory()
    response = client_for(principal).post(
        acknowledge_url(incident),
        {"note": "Told Contoso's IT lead; watching."},
    )
    assert response.status_code == 302
    ack = Acknowledgement.objects.get()
    assert (ack.incident, ack.user, ack.note) == (
        incident,
        cast[principal],
        "Told Contoso's IT lead; watching.",
    )
    entry = AuditEntry.objects.get(action="incident.acknowledged")
    assert entry.actor == cast[principal]
    page = client_for(principal).get(incident.get_absolute_url()).content.decode()
    assert cast[principal].get_full_name() in page
    assert "Told Contoso&#x27;s IT lead; watching." in page


def test_user_management_admins_cannot_acknowledge_or_snooze(client_for):
    incident = IncidentFactory()
    client = client_for("user_management_admin")
    assert_cannot_acknowledge_or_snooze(client, incident, 404)


def test_acknowledging_needs_post(client_for):
    incident = IncidentFactory()
    url = acknowledge_url(incident)
    assert client_for("helpdesk_agent").get(url).status_code == 405


# --- snooze ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "duration, expected",
    [("1h", timedelta(hours=1)), ("4h", timedelta(hours=4)), ("1d", timedelta(days=1))],
)
def test_snoozing_for_a_while(duration, expected, client_for, cast):
    incident = IncidentFactory()
    before = timezone.now()
    response = client_for("helpdesk_agent").post(snooze_url(incident), {"duration": duration})
    assert response.status_code == 302
    snooze = Snooze.objects.get(incident=incident, user=cast["helpdesk_agent"])
    assert before + expected <= snooze.until <= timezone.now() + expected
    assert AuditEntry.objects.filter(action="incident.snoozed").count() == 1


def test_snoozing_until_tomorrow_morning(client_for, cast, settings):
    settings.TIME_ZONE = "Europe/Istanbul"
    incident = IncidentFactory()
    client_for("helpdesk_agent").post(snooze_url(incident), {"duration": "tomorrow"})
    until = timezone.localtime(Snooze.objects.get().until)
    assert (until.hour, until.minute) == (9, 0)
    assert until.date() == timezone.localdate() + timedelta(days=1)


def test_tomorrow_at_nine_is_in_the_portals_time_zone(settings):
    settings.TIME_ZONE = "Europe/Istanbul"
    late_evening_utc = datetime(2026, 3, 1, 22, 30, tzinfo=UTC)  # 01:30 in Istanbul
    until = tomorrow_at_nine(late_evening_utc)
    assert until.isoformat() == "2026-03-03T09:00:00+03:00"


def test_the_snooze_is_shown_to_its_owner_only_and_can_be_undone(client_for, cast):
    incident = IncidentFactory()
    agent = client_for("helpdesk_agent")
    agent.post(snooze_url(incident), {"duration": "4h"})
    page = agent.get(incident.get_absolute_url())
    assert page.context["snooze"] is not None
    assert "You snoozed this incident until" in page.content.decode()
    assert "Unsnooze" in page.content.decode()
    other = client_for("admin_agent").get(incident.get_absolute_url())
    assert other.context["snooze"] is None
    assert "You snoozed this incident" not in other.content.decode()

    response = agent.post(snooze_url(incident), {"unsnooze": "1"})
    assert response.status_code == 302
    assert not Snooze.objects.exists()
    assert AuditEntry.objects.filter(action="incident.unsnoozed").count() == 1


def test_an_unknown_snooze_choice_is_refused(client_for):
    incident = IncidentFactory()
    response = client_for("helpdesk_agent").post(
        snooze_url(incident),
        {"duration": "forever"},
        follow=True,
    )
    assert "Choose how long to snooze it for." in response.content.decode()
    assert not Snooze.objects.exists()


def test_a_snoozed_incident_leaves_the_users_dashboard_list_only(client_for, cast):
    incident = IncidentFactory(title="Mail delays")
    Snooze.objects.create(
        incident=incident, user=cast["helpdesk_agent"], until=timezone.now() + timedelta(hours=1)
    )
    mine = client_for("helpdesk_agent").get(reverse("dashboard:index")).context["incident_summary"]
    assert mine["recent"] == []
    assert mine["incidents"] == 1
    theirs = client_for("admin_agent").get(reverse("dashboard:index")).context["incident_summary"]
    assert theirs["recent"] == [incident]
    listing = client_for("helpdesk_agent").get(reverse("incidents:list"))
    assert listing.context["page"].object_list[0].snoozed is True


# --- detail ---------------------------------------------------------------------------------------


def test_the_detail_shows_the_timeline_oldest_first_and_the_affected_customers(client_for):
    shown = {"impact_description": "Users may see delays sending mail.", "feature": "Mail flow"}
    incident = IncidentFactory(microsoft_id="EX654321", title="Mail flow delays", **shown)
    now = timezone.now()
    IncidentPostFactory(incident=incident, posted_at=now, content="<p>Second update</p>")
    IncidentPostFactory(
        incident=incident, posted_at=now - timedelta(hours=1), content="<p>First update</p>"
    )
    contoso = AffectedCustomerFactory(incident=incident, customer__company_name="Contoso").customer
    AffectedCustomerFactory(incident=incident, customer__company_name="Fabrikam")
    response = client_for("helpdesk_agent").get("/incidents/EX654321/")
    page = response.content.decode()
    assert page.index("First update") < page.index("Second update")
    for text in (*shown.values(), "2 customers affected"):
        assert text in page
    assert f'href="{contoso.get_absolute_url()}?tab=incidents"' in page
    assert "Acknowledge" in page and "Snooze" in page


def test_post_html_is_never_rendered_raw(client_for):
    incident = IncidentFactory()
    IncidentPostFactory(
        incident=incident,
        content=(
            "<p>Title: Mail delays</p><script>alert('xss')</script>"
            '<p>User impact: <img src=x onerror="alert(1)">some &amp; more</p>'
            "<ul><li>First</li><li>Second</li></ul>&lt;script&gt;escaped&lt;/script&gt;"
        ),
    )
    page = client_for("helpdesk_agent").get(incident.get_absolute_url()).content.decode()
    assert "<script>" not in page
    assert "alert(" not in page
    assert "onerror" not in page
    assert "<img" not in page
    assert "Title: Mail delays" in page
    assert "User impact: some &amp; more" in page
    assert "&lt;script&gt;escaped&lt;/script&gt;" in page  # shown as text, not run


def test_html_to_text_keeps_lines():
    text = html_to_text(
        "<p>Title: A</p><p>Impact:<br>B &amp; C</p><ul><li>one</li><li>two</li></ul>"
    )
    assert text == "Title: A\nImpact:\nB & C\n• one\n• two"
    assert html_to_text("<style>p{}</style>ok<script>x") == "ok"


def test_a_reader_without_the_work_capability_sees_no_forms_and_gets_403(client, cast):
    # No role today reads incidents without working on them; a user given only the read
    # permission shows that the page and the actions still ask for each capability.
    from django.contrib.auth.models import Permission

    from tests.factories import UserFactory

    reader = UserFactory()
    reader.user_permissions.add(Permission.objects.get(codename="view_support"))
    client.force_login(reader)
    incident = IncidentFactory()
    response = client.get(incident.get_absolute_url())
    assert response.status_code == 200
    assert response.context["can_work"] is False
    page = response.content.decode()
    assert acknowledge_url(incident) not in page
    assert snooze_url(incident) not in page
    assert_cannot_acknowledge_or_snooze(client, incident, 403)


# --- list -----------------------------------------------------------------------------------------


def test_the_list_filters(client_for):
    now = timezone.now()
    contoso = CustomerFactory(company_name="Contoso")
    # Listed newest change first.
    mail = IncidentFactory(
        last_modified_at=now,
        microsoft_id="EX100001",
        title="Mail delays",
        service="Exchange Online",
    )
    teams = IncidentFactory(
        last_modified_at=now - timedelta(hours=1),
        microsoft_id="TM200002",
        title="Meetings drop",
        impact_description="Users may be disconnected from calls.",
        service="Microsoft Teams",
        status="investigating",
    )
    advisory = IncidentFactory(
        last_modified_at=now - timedelta(hours=2),
        is_resolved=True,
        microsoft_id="MO300003",
        title="Planned change",
        classification="advisory",
        service="Microsoft 365 suite",
        status="serviceRestored",
    )
    AffectedCustomerFactory(incident=teams, customer=contoso)
    AffectedCustomerFactory(incident=teams)
    AffectedCustomerFactory(incident=advisory, customer=contoso)
    agent = client_for("helpdesk_agent")
    url = reverse("incidents:list")
    assert listed_ids(agent.get(url)) == ["EX100001", "TM200002", "MO300003"]
    assert listed_ids(agent.get(url, {"state": "active"})) == ["EX100001", "TM200002"]
    assert listed_ids(agent.get(url, {"state": "resolved"})) == ["MO300003"]
    assert listed_ids(agent.get(url, {"classification": "advisory"})) == ["MO300003"]
    assert listed_ids(agent.get(url, {"status": "investigating"})) == ["TM200002"]
    assert listed_ids(agent.get(url, {"service": "Exchange Online"})) == ["EX100001"]
    response = agent.get(url, {"customer": str(contoso.tenant_id)})
    assert listed_ids(response) == ["TM200002", "MO300003"]
    assert response.context["customer"] == contoso
    # The customer filter does not shrink the affected count to that one customer.
    assert response.context["page"].object_list[0].affected_count == 2
    assert listed_ids(agent.get(url, {"q": "ex1000"})) == ["EX100001"]
    assert listed_ids(agent.get(url, {"q": "meetings"})) == ["TM200002"]
    assert listed_ids(agent.get(url, {"q": "DISCONNECTED"})) == ["TM200002"]
    combined = agent.get(url, {"state": "active", "customer": str(contoso.tenant_id)})
    assert listed_ids(combined) == ["TM200002"]
    assert mail.get_absolute_url() in agent.get(url).content.decode()


def test_a_bad_filter_value_shows_an_error_not_everything(client_for):
    IncidentFactory()
    response = client_for("helpdesk_agent").get(reverse("incidents:list"), {"customer": "nope"})
    assert response.status_code == 200
    assert listed_ids(response) == []
    assert "customer" in response.context["filterset"].errors


def test_the_list_shows_each_row(client_for):
    shown = {"title": "Search is slow", "service": "SharePoint Online", "status": "somethingNew"}
    incident = IncidentFactory(
        microsoft_id="EX777777", classification="unknownFutureValue", **shown
    )
    for _ in range(3):
        AffectedCustomerFactory(incident=incident)
    response = client_for("helpdesk_agent").get(reverse("incidents:list"))
    row = response.context["page"].object_list[0]
    assert row.affected_count == 3
    page = response.content.decode()
    for text in ("EX777777", *shown.values(), "Unknown"):
        assert text in page
    # Values Microsoft added later are offered in the filter menus as they are.
    assert '<option value="somethingNew"' in page


def test_the_list_is_paginated(client_for):
    for _ in range(55):
        IncidentFactory()
    agent = client_for("helpdesk_agent")
    first = agent.get(reverse("incidents:list"))
    assert len(first.context["page"].object_list) == 50
    second = agent.get(reverse("incidents:list"), {"page": 2, "state": "active"})
    assert len(second.context["page"].object_list) == 5
    assert "state=active&amp;page=1" in second.content.decode()


def test_list_queries_do_not_grow_with_rows(client_for):
    count_queries = query_counter(client_for("helpdesk_agent"), reverse("incidents:list"))

    for _ in range(3):
        AffectedCustomerFactory()
    few, _response = count_queries()
    for n in range(47):
        incident = IncidentFactory(service=f"Service {n}", status=f"status{n}")
        for _ in range(3):
            AffectedCustomerFactory(incident=incident)
        IncidentPostFactory(incident=incident)
    many, response = count_queries()
    assert len(response.context["page"].object_list) == 50
    assert many == few


# --- the customer's Incidents tab -----------------------------------------------------------------


def test_the_customer_incidents_tab_lists_active_first(client_for):
    customer = CustomerFactory()
    now = timezone.now()
    resolved = IncidentFactory(title="Old and fixed", is_resolved=True, last_modified_at=now)
    active = IncidentFactory(title="Still broken", last_modified_at=now - timedelta(days=2))
    IncidentFactory(title="Someone else's")
    AffectedCustomerFactory(incident=resolved, customer=customer)
    AffectedCustomerFactory(incident=active, customer=customer)
    response = client_for("helpdesk_agent").get(customer.get_absolute_url(), {"tab": "incidents"})
    titles = [link.incident.title for link in response.context["incident_links"]]
    assert titles == ["Still broken", "Old and fixed"]
    page = response.content.decode()
    assert "Someone else" not in page
    assert f"{reverse('incidents:list')}?customer={customer.tenant_id}" in page
