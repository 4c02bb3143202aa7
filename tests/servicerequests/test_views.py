"""The service-request pages: list, open (blank, from a customer, from an incident), routing
preview, detail and its actions, the customer tab, the incident page and the dashboard card."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from core import events
from core.models import AuditEntry, Event
from customers.models import Contact, Tag
from servicerequests import services
from servicerequests.models import (
    Channel,
    Delivery,
    DeliveryAttempt,
    DeliveryStateChoices,
    ServiceRequest,
    ServiceRequestNote,
    StatusChoices,
    TimelineEntry,
    TimelineKindChoices,
)
from tests.customers.factories import CustomerFactory
from tests.incidents.factories import (
    AffectedCustomerFactory,
    IncidentFactory,
    IncidentPostFactory,
)
from tests.servicerequests.factories import (
    ChannelFactory,
    RoutingRuleFactory,
    ServiceRequestFactory,
    SupportTopicFactory,
    breached,
)

SUPPORT_ROLES = ["global_admin", "admin_agent", "helpdesk_agent"]
NOT_SUPPORT = ["user_management_admin", "no_role"]


@pytest.fixture
def routed(db):
    """A technical topic and a catch-all technical rule to a webhook channel, first in order."""
    topic = SupportTopicFactory(name="Mail flow (test)", category="technical")
    channel = ChannelFactory(name="Premier webhook", kind="webhook", category="technical")
    rule = RoutingRuleFactory(position=1, name="Technical to Premier", channel=channel)
    return topic, channel, rule


def form_data(topic, for_customer, **overrides):
    data = {
        "customer": str(for_customer.tenant_id),
        "support_topic": str(topic.pk),
        "severity": "moderate",
        "title": "Mail to the finance mailbox bounces",
        "description": "Since 08:00 every external mail to finance@ bounces with 550 5.4.1.",
        "contact_name": "Jordan Reyes",
        "contact_email": "jordan@customer.example",
        "contact_phone": "+44 20 7946 0000",
        "incident": "",
    }
    data.update(overrides)
    return data


# --- who may do what ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "principal, expected",
    [(role, 200) for role in SUPPORT_ROLES] + [(role, 404) for role in NOT_SUPPORT],
)
def test_the_pages_are_for_support_roles(principal, expected, client_for):
    service_request = ServiceRequestFactory()
    client = client_for(principal)
    assert client.get(reverse("servicerequests:list")).status_code == expected
    assert client.get(service_request.get_absolute_url()).status_code == expected
    assert client.get(reverse("servicerequests:create")).status_code == expected
    assert client.get(reverse("servicerequests:route_preview")).status_code == expected


@pytest.mark.parametrize("principal", NOT_SUPPORT)
def test_writes_by_someone_without_support_roles_are_not_found(principal, client_for, cast):
    service_request = ServiceRequestFactory(delivery=DeliveryStateChoices.MANUAL)
    client = client_for(principal)
    number = service_request.number
    for name, data in [
        ("note", {"text": "Sneaky"}),
        ("status", {"action": "close"}),
        ("assign", {"assignee": cast["helpdesk_agent"].pk}),
        ("reference", {"reference": "2401010010000001"}),
        ("retry", {}),
    ]:
        response = client.post(reverse(f"servicerequests:{name}", args=[number]), data)
        assert response.status_code == 404, name
    service_request.refresh_from_db()
    assert service_request.status == StatusChoices.PENDING_DELIVERY
    assert service_request.assignee is None
    assert not ServiceRequestNote.objects.exists()
    assert not AuditEntry.objects.filter(action__startswith="servicerequest.").exists()


@pytest.mark.parametrize("principal", ["admin_agent", "helpdesk_agent"])
def test_only_global_admins_retry_a_delivery(principal, client_for):
    service_request = ServiceRequestFactory(
        delivery=DeliveryStateChoices.FAILED, status=StatusChoices.DELIVERY_FAILED
    )
    response = client_for(principal).post(
        reverse("servicerequests:retry", args=[service_request.number])
    )
    assert response.status_code == 404
    assert Delivery.objects.get().state == DeliveryStateChoices.FAILED
    page = client_for(principal).get(service_request.get_absolute_url())
    assert 'data-testid="retry"' not in page.content.decode()


def test_an_unknown_number_is_not_found(client_for):
    response = client_for("helpdesk_agent").get(
        reverse("servicerequests:detail", args=["SR-999999"])
    )
    assert response.status_code == 404


@pytest.mark.parametrize("principal", SUPPORT_ROLES + ["user_management_admin"])
def test_navigation_links(principal, client_for):
    response = client_for(principal).get(reverse("accounts:profile"))
    urls = {item["url"] for item in response.context["navigation"]}
    main = {item["url"] for item in response.context["navigation_main"]}
    more = {item["url"] for item in response.context["navigation_more"]}
    assert (reverse("servicerequests:list") in main) == (principal in SUPPORT_ROLES)
    is_admin = principal == "global_admin"
    assert (reverse("servicerequests:channel_list") in more) == is_admin
    assert (reverse("servicerequests:rule_list") in more) == is_admin
    assert urls >= main | more


# --- the list -------------------------------------------------------------------------------


def _numbers(response):
    return {sr.number for sr in response.context["page"]}


def test_the_list_shows_the_columns(client_for):
    customer = CustomerFactory(company_name="Fabrikam Ltd")
    service_request = ServiceRequestFactory(
        customer=customer, severity="critical", channel_reference="2401010010000042"
    )
    late = breached(customer=customer)
    response = client_for("helpdesk_agent").get(reverse("servicerequests:list"))
    html = response.content.decode()
    assert service_request.number in html
    assert service_request.title in html
    assert "Fabrikam Ltd" in html
    assert "Critical (production down)" in html
    assert "Pending delivery" in html
    assert service_request.channel.name in html
    assert "2401010010000042" in html
    assert html.count('data-testid="breached"') == 1
    assert late.number in html


def test_the_list_filters(client_for, cast):
    me = cast["helpdesk_agent"]
    fabrikam = CustomerFactory(company_name="Fabrikam")
    commercial = SupportTopicFactory(category="commercial")
    email = ChannelFactory(kind="email", category="commercial")
    a = ServiceRequestFactory(customer=fabrikam, severity="critical", assignee=me)
    b = ServiceRequestFactory(
        status=StatusChoices.OPEN,
        support_topic=commercial,
        channel=email,
        created_by=me,
        channel_reference="MSG-REF-7781",
    )
    c = breached(status=StatusChoices.OPEN, title="Teams calls drop after a minute")
    d = ServiceRequestFactory(status=StatusChoices.CLOSED, due_in=-timedelta(hours=3))
    e = ServiceRequestFactory(status=StatusChoices.ATTENTION_NEEDED)
    client = client_for("helpdesk_agent")
    url = reverse("servicerequests:list")

    def numbers(**params):
        response = client.get(url, params)
        assert response.status_code == 200
        return _numbers(response)

    assert numbers() == {x.number for x in (a, b, c, d, e)}
    assert numbers(status="open") == {b.number, c.number}
    assert numbers(severity="critical") == {a.number}
    assert numbers(category="commercial") == {b.number}
    assert numbers(customer=str(fabrikam.tenant_id)) == {a.number}
    assert numbers(channel=str(email.pk)) == {b.number}
    assert numbers(mine="true") == {a.number, b.number}
    # Closed requests are never breached, however late.
    assert numbers(breached="true") == {c.number}
    assert numbers(attention="true") == {c.number, e.number}
    assert numbers(q=a.number) == {a.number}
    assert numbers(q="teams calls") == {c.number}
    assert numbers(q="ref-7781") == {b.number}
    # A malformed tenant id shows an error, not everything.
    response = client.get(url, {"customer": "not-a-guid"})
    assert _numbers(response) == set()
    assert response.context["filterset"].errors


def test_the_list_paginates(client_for):
    ServiceRequestFactory.create_batch(52)
    client = client_for("helpdesk_agent")
    first = client.get(reverse("servicerequests:list"))
    second = client.get(reverse("servicerequests:list"), {"page": 2})
    assert len(first.context["page"]) == 50
    assert len(second.context["page"]) == 2


def test_the_list_query_count_does_not_grow_with_rows(client_for):
    client = client_for("helpdesk_agent")
    url = reverse("servicerequests:list")
    ServiceRequestFactory()
    client.get(url)  # warm up the session and the content types
    with CaptureQueriesContext(connection) as one:
        assert client.get(url).status_code == 200
    for _ in range(15):
        ServiceRequestFactory(
            customer=CustomerFactory(),
            channel=ChannelFactory(),
            status=StatusChoices.OPEN,
        )
    breached(channel_reference="x")
    with CaptureQueriesContext(connection) as many:
        response = client.get(url)
    assert len(response.context["page"]) == 17
    assert len(many) == len(one), [q["sql"] for q in many.captured_queries]
    assert len(many) <= 12


# --- opening a request ----------------------------------------------------------------------


def test_the_blank_form(client_for, routed):
    response = client_for("helpdesk_agent").get(reverse("servicerequests:create"))
    assert response.status_code == 200
    form = response.context["form"]
    assert form["customer"].value() is None
    assert form["severity"].value() == "moderate"
    html = response.content.decode()
    assert 'name="preview"' in html
    assert "js/servicerequests.js" in html
    assert reverse("servicerequests:route_preview") in html


def test_opening_a_request_goes_through_the_service(client_for, cast, routed):
    topic, channel, rule = routed
    customer = CustomerFactory()
    response = client_for("helpdesk_agent").post(
        reverse("servicerequests:create"), form_data(topic, customer)
    )
    service_request = ServiceRequest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == service_request.get_absolute_url()
    assert re.fullmatch(r"SR-\d{6}", service_request.number)
    assert service_request.channel == channel
    assert service_request.created_by == cast["helpdesk_agent"]
    assert service_request.customer == customer
    assert service_request.category == "technical"
    assert service_request.locale == "en-US"
    assert service_request.contact_phone == "+44 20 7946 0000"
    assert Delivery.objects.get().service_request == service_request
    kinds = list(service_request.timeline.values_list("kind", flat=True))
    assert kinds == [TimelineKindChoices.CREATED, TimelineKindChoices.ROUTED]
    assert AuditEntry.objects.filter(
        action="servicerequest.created", target_id=str(service_request.pk)
    ).exists()


def opened_in_turkish(client_for, routed, settings):
    """A helpdesk agent who reads Turkish opens a request on the page: their client, the request."""
    topic, _channel, _rule = routed
    turkish = client_for("helpdesk_agent")
    turkish.cookies[settings.LANGUAGE_COOKIE_NAME] = "tr"
    response = turkish.post(reverse("servicerequests:create"), form_data(topic, CustomerFactory()))
    assert response.status_code == 302
    return turkish, ServiceRequest.objects.get()


def test_a_turkish_speaking_agent_opens_it_in_tr_tr(client_for, routed, settings):
    _turkish, service_request = opened_in_turkish(client_for, routed, settings)
    assert service_request.locale == "tr-TR"


def test_the_timeline_speaks_the_readers_language_not_the_writers(client_for, routed, settings):
    turkish, service_request = opened_in_turkish(client_for, routed, settings)
    services.change_status(
        service_request, StatusChoices.ATTENTION_NEEDED, source="Partner Center", actor=None
    )
    url = reverse("servicerequests:detail", args=[service_request.number])

    english = client_for("admin_agent").get(url).content.decode()
    assert "Opened." in english and "Açıldı." not in english
    assert "Status: Pending delivery → Attention needed (Partner Center)" in english

    in_turkish = turkish.get(url).content.decode()
    assert "Açıldı." in in_turkish and "Opened." not in in_turkish
    assert "Durum: " in in_turkish and "(Partner Center)" in in_turkish

    api = client_for("admin_agent")
    timeline = f"/api/v1/service-requests/{service_request.number}/timeline/"
    english_api = [e["message"] for e in api.get(timeline).json()]
    assert english_api[0] == "Opened."
    turkish_api = [e["message"] for e in api.get(timeline, HTTP_ACCEPT_LANGUAGE="tr").json()]
    assert turkish_api[0] == "Açıldı."


def test_opening_from_a_customer_prefills_the_customer_and_its_primary_contact(client_for, routed):
    customer = CustomerFactory(company_name="Contoso")
    Contact.objects.create(
        customer=customer, name="Bea Billing", email="b@x.example", role="billing"
    )
    Contact.objects.create(
        customer=customer,
        name="Pat Primary",
        email="pat@contoso.example",
        phone="+90 212 555 0101",
        role="primary",
    )
    response = client_for("helpdesk_agent").get(
        reverse("servicerequests:create"), {"customer": str(customer.tenant_id)}
    )
    form = response.context["form"]
    assert str(form["customer"].value()) == str(customer.tenant_id)
    assert form["contact_name"].value() == "Pat Primary"
    assert form["contact_email"].value() == "pat@contoso.example"
    assert form["contact_phone"].value() == "+90 212 555 0101"
    assert f'value="{customer.tenant_id}" selected' in response.content.decode()


def test_an_unknown_or_malformed_customer_is_ignored(client_for, routed):
    client = client_for("helpdesk_agent")
    for value in ["not-a-guid", "00000000-0000-0000-0000-000000000000"]:
        response = client.get(reverse("servicerequests:create"), {"customer": value})
        assert response.status_code == 200
        assert response.context["form"]["customer"].value() is None


def test_escalating_an_incident_prefills_the_form(client_for, routed):
    topic, _channel, _rule = routed
    incident = IncidentFactory(
        microsoft_id="EX123456",
        service=topic.name,  # the topic named like the incident's service is chosen
        title="Users can't send mail",
        impact_description="Users may be unable to send email.",
        high_impact=True,
        status="serviceDegradation",
    )
    IncidentPostFactory(
        incident=incident,
        posted_at=timezone.now() - timedelta(hours=2),
        content="<p>Old update</p>",
    )
    IncidentPostFactory(
        incident=incident,
        posted_at=timezone.now(),
        content="<p>Title: Mail delays</p><p>Current status: <b>rolling back</b> a change.</p>",
    )
    affected = [AffectedCustomerFactory(incident=incident).customer for _ in range(2)]
    unaffected = CustomerFactory()
    response = client_for("helpdesk_agent").get(
        reverse("servicerequests:create"), {"incident": "EX123456"}
    )
    form = response.context["form"]
    assert form["title"].value() == "[EX123456] Users can't send mail"
    description = form["description"].value()
    assert "Users may be unable to send email." in description
    assert "Current status: rolling back a change." in description
    assert "Old update" not in description
    assert "<p>" not in description
    assert form["severity"].value() == "critical"
    assert form["incident"].value() == "EX123456"
    assert str(form["support_topic"].value()) == str(topic.pk)
    choices = set(form.fields["customer"].queryset)
    assert choices == set(affected)
    assert unaffected not in choices
    assert 'data-testid="from-incident"' in response.content.decode()


def test_an_interruption_is_critical_and_one_affected_customer_is_chosen(client_for, routed):
    incident = IncidentFactory(status="serviceInterruption", high_impact=None)
    customer = AffectedCustomerFactory(incident=incident).customer
    Contact.objects.create(customer=customer, name="Only Contact", email="o@c.example")
    response = client_for("helpdesk_agent").get(
        reverse("servicerequests:create"), {"incident": incident.microsoft_id}
    )
    form = response.context["form"]
    assert form["severity"].value() == "critical"
    assert str(form["customer"].value()) == str(customer.tenant_id)
    assert form["contact_name"].value() == "Only Contact"


def test_a_degradation_that_is_not_high_impact_is_moderate(client_for, routed):
    incident = IncidentFactory(status="serviceDegradation", high_impact=False)
    response = client_for("helpdesk_agent").get(
        reverse("servicerequests:create"), {"incident": incident.microsoft_id}
    )
    assert response.context["form"]["severity"].value() == "moderate"
    # No affected customer recorded: every customer may be chosen.
    assert response.context["form"].fields["customer"].queryset.model.__name__ == "Customer"


def test_the_request_opened_from_an_incident_links_it(client_for, routed):
    topic, _channel, _rule = routed
    incident = IncidentFactory()
    customer = AffectedCustomerFactory(incident=incident).customer
    response = client_for("admin_agent").post(
        reverse("servicerequests:create") + f"?incident={incident.microsoft_id}",
        form_data(topic, customer, incident=incident.microsoft_id),
    )
    assert response.status_code == 302
    assert ServiceRequest.objects.get().incident == incident


def test_a_customer_the_incident_does_not_affect_is_refused(client_for, routed):
    topic, _channel, _rule = routed
    incident = IncidentFactory()
    AffectedCustomerFactory(incident=incident)
    other = CustomerFactory()
    response = client_for("helpdesk_agent").post(
        reverse("servicerequests:create"),
        form_data(topic, other, incident=incident.microsoft_id),
    )
    assert response.status_code == 200
    assert "customer" in response.context["form"].errors
    assert not ServiceRequest.objects.exists()


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"title": ""}, "title"),
        ({"title": "Hi"}, "title"),
        ({"description": "Broken."}, "description"),
        ({"contact_email": "not-an-address"}, "contact_email"),
        ({"contact_name": ""}, "contact_name"),
        ({"contact_phone": "call me maybe"}, "contact_phone"),
        ({"severity": "apocalyptic"}, "severity"),
        ({"support_topic": "999999"}, "support_topic"),
        ({"customer": "not-a-guid"}, "customer"),
    ],
)
def test_field_errors_are_shown_next_to_the_field(client_for, routed, overrides, field):
    topic, _channel, _rule = routed
    response = client_for("helpdesk_agent").post(
        reverse("servicerequests:create"), form_data(topic, CustomerFactory(), **overrides)
    )
    assert response.status_code == 200
    assert list(response.context["form"].errors) == [field]
    assert 'class="field has-error"' in response.content.decode()
    assert not ServiceRequest.objects.exists()


def test_an_inactive_topic_is_not_offered(client_for, routed):
    topic, _channel, _rule = routed
    retired = SupportTopicFactory(active=False)
    response = client_for("helpdesk_agent").post(
        reverse("servicerequests:create"),
        form_data(topic, CustomerFactory(), support_topic=str(retired.pk)),
    )
    assert "support_topic" in response.context["form"].errors


def test_check_routing_shows_the_decision_without_saving(client_for, routed):
    topic, channel, rule = routed
    vip = ChannelFactory(name="VIP desk", kind="email", category="technical")
    RoutingRuleFactory(position=0, name="VIP customers", customer_tag="vip", channel=vip)
    customer = CustomerFactory()
    customer.tags.add(Tag.objects.create(name="vip"))
    client = client_for("helpdesk_agent")
    response = client.post(
        reverse("servicerequests:create"), {**form_data(topic, customer), "preview": "1"}
    )
    assert response.status_code == 200
    decision = response.context["decision"]
    assert decision.channel == vip
    html = response.content.decode()
    assert 'data-testid="route-decision"' in html
    assert "VIP desk" in html
    assert "Rule “VIP customers” matched" in html
    assert not ServiceRequest.objects.exists()
    # Without the tag, the next rule takes it, and the first one says why not.
    plain = CustomerFactory()
    response = client.post(
        reverse("servicerequests:create"), {**form_data(topic, plain), "preview": "1"}
    )
    assert response.context["decision"].channel == channel
    assert "the customer has no tag vip" in response.content.decode()
    # The values typed are kept.
    assert response.context["form"]["title"].value() == "Mail to the finance mailbox bounces"


def test_check_routing_with_errors_elsewhere_still_routes(client_for, routed):
    topic, channel, _rule = routed
    response = client_for("helpdesk_agent").post(
        reverse("servicerequests:create"),
        {**form_data(topic, CustomerFactory(), title=""), "preview": "1"},
    )
    assert response.context["decision"].channel == channel
    # Only what routing reads may complain: the missing title waits for the real submit.
    assert "title" not in response.context["form"].errors
    assert not ServiceRequest.objects.exists()


def test_check_routing_without_a_topic_says_so(client_for, routed):
    topic, _channel, _rule = routed
    response = client_for("helpdesk_agent").post(
        reverse("servicerequests:create"),
        {**form_data(topic, CustomerFactory(), support_topic="", title=""), "preview": "1"},
    )
    assert response.context["decision"] is None
    assert list(response.context["form"].errors) == ["support_topic"]
    assert "Choose a support topic and a severity" in response.content.decode()


def test_the_route_preview_json(client_for, routed):
    topic, channel, rule = routed
    customer = CustomerFactory()
    client = client_for("helpdesk_agent")
    url = reverse("servicerequests:route_preview")
    incomplete = client.get(url).json()
    assert incomplete["complete"] is False
    assert incomplete["message"]
    answer = client.get(
        url,
        {"support_topic": topic.pk, "severity": "critical", "customer": str(customer.tenant_id)},
    ).json()
    assert answer["complete"] is True
    assert answer["routable"] is True
    assert answer["channel"] == "Premier webhook"
    assert answer["rule"] == "Technical to Premier"
    assert (
        answer["explanation"]
        == "Rule “Technical to Premier” matched: sent through Premier webhook."
    )
    first = answer["reasons"][0]
    assert first["rule"] == "Technical to Premier"
    assert first["outcome"] == "chosen"
    assert "credentials" not in str(answer)
    assert client.get(url, {"support_topic": 999999, "severity": "critical"}).status_code == 400
    assert client.get(url, {"support_topic": topic.pk, "severity": "bad"}).status_code == 400
    assert (
        client.get(
            url, {"support_topic": topic.pk, "severity": "critical", "customer": "nope"}
        ).status_code
        == 400
    )


def test_no_route_is_a_form_error(client_for):
    topic = SupportTopicFactory(category="commercial")
    Channel.objects.filter(category="commercial").update(enabled=False)
    response = client_for("helpdesk_agent").post(
        reverse("servicerequests:create"), form_data(topic, CustomerFactory())
    )
    assert response.status_code == 200
    errors = response.context["form"].non_field_errors()
    assert "No support channel takes this request" in errors[0]
    assert not ServiceRequest.objects.exists()


# --- one request ----------------------------------------------------------------------------


def test_the_detail_page(client_for, cast):
    incident = IncidentFactory(microsoft_id="EX222333")
    service_request = ServiceRequestFactory(
        incident=incident,
        assignee=cast["admin_agent"],
        channel_reference="2401010010000099",
        delivery=DeliveryStateChoices.PENDING,
    )
    delivery = service_request.delivery
    delivery.attempts = 2
    delivery.last_error = "The channel answered 503: busy"
    delivery.save()
    now = timezone.now()
    for number, outcome, code in [(1, "transient", 503), (2, "transient", 429)]:
        DeliveryAttempt.objects.create(
            delivery=delivery,
            number=number,
            started_at=now,
            duration_ms=120 + number,
            outcome=outcome,
            status_code=code,
            error=f"The channel answered {code}",
        )
    TimelineEntry.objects.create(
        service_request=service_request, kind="created", message="First entry", created_at=now
    )
    TimelineEntry.objects.create(
        service_request=service_request,
        kind="attempt",
        message="Second entry",
        created_at=now + timedelta(seconds=5),
    )
    response = client_for("helpdesk_agent").get(service_request.get_absolute_url())
    html = response.content.decode()
    assert service_request.number in html
    assert "EX222333" in html
    assert service_request.customer.company_name in html
    assert "2401010010000099" in html
    assert "The channel answered 503: busy" in html
    assert "122 ms" in html
    assert "429" in html
    assert html.index("First entry") < html.index("Second entry")
    assert 'data-testid="close"' not in html  # still being delivered
    assert 'data-testid="manual-filing"' not in html


def test_the_detail_query_count_does_not_grow_with_the_timeline(client_for):
    service_request = ServiceRequestFactory()
    client = client_for("helpdesk_agent")
    client.get(service_request.get_absolute_url())
    with CaptureQueriesContext(connection) as few:
        client.get(service_request.get_absolute_url())
    for index in range(10):
        TimelineEntry.objects.create(
            service_request=service_request, kind="note", message=f"n{index}"
        )
        ServiceRequestNote.objects.create(service_request=service_request, text=f"n{index}")
        DeliveryAttempt.objects.create(
            delivery=service_request.delivery,
            number=index + 1,
            started_at=timezone.now(),
            duration_ms=1,
            outcome="transient",
        )
    with CaptureQueriesContext(connection) as many:
        client.get(service_request.get_absolute_url())
    assert len(many) == len(few)


def test_adding_a_note(client_for, cast):
    service_request = ServiceRequestFactory()
    client = client_for("helpdesk_agent")
    response = client.post(
        reverse("servicerequests:note", args=[service_request.number]),
        {"text": "Customer confirms it started at 08:00."},
    )
    assert response.status_code == 302
    note = ServiceRequestNote.objects.get()
    assert note.author == cast["helpdesk_agent"]
    assert note.text == "Customer confirms it started at 08:00."
    assert TimelineEntry.objects.filter(
        service_request=service_request, kind=TimelineKindChoices.NOTE
    ).exists()
    assert AuditEntry.objects.filter(action="servicerequest.note_added").exists()
    page = client.get(service_request.get_absolute_url())
    assert "Customer confirms it started at 08:00." in page.content.decode()


def test_an_empty_note_is_refused(client_for):
    service_request = ServiceRequestFactory()
    response = client_for("helpdesk_agent").post(
        reverse("servicerequests:note", args=[service_request.number]), {"text": "   "}, follow=True
    )
    assert not ServiceRequestNote.objects.exists()
    assert [m.level_tag for m in response.context["messages"]] == ["error"]


def test_closing_and_reopening(client_for, cast):
    service_request = ServiceRequestFactory(
        status=StatusChoices.OPEN, delivery=DeliveryStateChoices.DELIVERED
    )
    client = client_for("helpdesk_agent")
    url = reverse("servicerequests:status", args=[service_request.number])
    page = client.get(service_request.get_absolute_url()).content.decode()
    assert 'data-testid="close"' in page
    assert client.post(url, {"action": "close"}).status_code == 302
    service_request.refresh_from_db()
    assert service_request.status == StatusChoices.CLOSED
    assert service_request.closed_at is not None
    entry = AuditEntry.objects.get(action="servicerequest.status_changed")
    assert entry.before["status"] == "open"
    assert entry.after["status"] == "closed"
    assert entry.actor == cast["helpdesk_agent"]
    page = client.get(service_request.get_absolute_url()).content.decode()
    assert 'data-testid="reopen"' in page
    client.post(url, {"action": "reopen"})
    service_request.refresh_from_db()
    assert service_request.status == StatusChoices.OPEN
    assert service_request.timeline.filter(kind=TimelineKindChoices.STATUS_CHANGED).count() == 2


def test_reopening_a_request_whose_delivery_failed_keeps_it_failed(client_for):
    service_request = ServiceRequestFactory(
        status=StatusChoices.DELIVERY_FAILED, delivery=DeliveryStateChoices.FAILED
    )
    client = client_for("helpdesk_agent")
    url = reverse("servicerequests:status", args=[service_request.number])
    client.post(url, {"action": "close"})
    client.post(url, {"action": "reopen"})
    service_request.refresh_from_db()
    assert service_request.status == StatusChoices.DELIVERY_FAILED


def test_a_request_on_its_way_cannot_be_closed(client_for):
    service_request = ServiceRequestFactory(delivery=DeliveryStateChoices.SENDING)
    response = client_for("helpdesk_agent").post(
        reverse("servicerequests:status", args=[service_request.number]),
        {"action": "close"},
        follow=True,
    )
    service_request.refresh_from_db()
    assert service_request.status == StatusChoices.PENDING_DELIVERY
    assert [m.level_tag for m in response.context["messages"]] == ["error"]
    assert not AuditEntry.objects.exists()


def test_assigning_to_a_support_staff_member(client_for, cast):
    service_request = ServiceRequestFactory()
    client = client_for("admin_agent")
    url = reverse("servicerequests:assign", args=[service_request.number])
    page = client.get(service_request.get_absolute_url())
    options = set(page.context["assign_form"].fields["assignee"].queryset)
    assert cast["helpdesk_agent"] in options
    assert cast["user_management_admin"] not in options
    assert cast["inactive"] not in options
    assert client.post(url, {"assignee": cast["helpdesk_agent"].pk}).status_code == 302
    service_request.refresh_from_db()
    assert service_request.assignee == cast["helpdesk_agent"]
    assert service_request.timeline.filter(kind=TimelineKindChoices.ASSIGNED).exists()
    entry = AuditEntry.objects.get(action="servicerequest.assigned")
    assert entry.after["assignee_id"] == cast["helpdesk_agent"].pk
    # Someone without a support role cannot be chosen.
    client.post(url, {"assignee": cast["user_management_admin"].pk})
    service_request.refresh_from_db()
    assert service_request.assignee == cast["helpdesk_agent"]
    # Empty unassigns.
    client.post(url, {"assignee": ""})
    service_request.refresh_from_db()
    assert service_request.assignee is None


def test_the_manual_channel_shows_the_deep_link_and_takes_the_reference(client_for):
    manual = ChannelFactory(
        kind="manual", endpoint="https://partner.microsoft.com/dashboard/support/new"
    )
    service_request = ServiceRequestFactory(
        channel=manual, delivery=DeliveryStateChoices.MANUAL, title="Billing & invoices"
    )
    client = client_for("helpdesk_agent")
    html = client.get(service_request.get_absolute_url()).content.decode()
    assert 'data-testid="manual-filing"' in html
    link = re.search(r'href="([^"]+)"[^>]*data-testid="deep-link"', html)
    assert link is not None
    assert link.group(1).startswith("https://partner.microsoft.com/dashboard/support/new?")
    assert "title=Billing+%26+invoices&amp;description=" in link.group(1)
    assert f"tenantId={service_request.customer.tenant_id}" in link.group(1)
    assert 'target="_blank"' in html
    response = client.post(
        reverse("servicerequests:reference", args=[service_request.number]),
        {"reference": "2401010010000777"},
    )
    assert response.status_code == 302
    service_request.refresh_from_db()
    assert service_request.channel_reference == "2401010010000777"
    assert service_request.status == StatusChoices.OPEN
    assert Delivery.objects.get().state == DeliveryStateChoices.DELIVERED
    assert service_request.timeline.filter(kind=TimelineKindChoices.DELIVERED).exists()
    assert AuditEntry.objects.filter(action="servicerequest.reference_recorded").exists()
    html = client.get(service_request.get_absolute_url()).content.decode()
    assert 'data-testid="manual-filing"' not in html


def test_a_reference_is_refused_unless_the_request_waits_for_one(client_for):
    service_request = ServiceRequestFactory(delivery=DeliveryStateChoices.PENDING)
    client = client_for("helpdesk_agent")
    client.post(
        reverse("servicerequests:reference", args=[service_request.number]),
        {"reference": "2401010010000777"},
    )
    service_request.refresh_from_db()
    assert service_request.channel_reference == ""
    manual = ServiceRequestFactory(
        channel=ChannelFactory(kind="manual"), delivery=DeliveryStateChoices.MANUAL
    )
    client.post(
        reverse("servicerequests:reference", args=[manual.number]),
        {"reference": "<script>alert(1)</script>"},
    )
    manual.refresh_from_db()
    assert manual.channel_reference == ""
    assert Delivery.objects.get(service_request=manual).state == DeliveryStateChoices.MANUAL


def test_a_global_admin_retries_a_failed_delivery(
    client_for, cast, django_capture_on_commit_callbacks
):
    service_request = ServiceRequestFactory(
        status=StatusChoices.DELIVERY_FAILED, delivery=DeliveryStateChoices.FAILED
    )
    Delivery.objects.filter(service_request=service_request).update(
        attempts=8, last_error="The channel refused the request (401)"
    )
    client = client_for("global_admin")
    html = client.get(service_request.get_absolute_url()).content.decode()
    assert 'data-testid="retry"' in html
    assert "The channel refused the request (401)" in html
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(reverse("servicerequests:retry", args=[service_request.number]))
    assert response.status_code == 302
    # The delivery is queued once the retry commits (the status event also wakes the fan-out).
    assert len([callback for callback in callbacks if callback is not events.wake_fan_out]) == 1
    assert (
        Event.objects.get().summary
        == f"{service_request.number}: Delivery failed → Pending delivery"
    )
    delivery = Delivery.objects.get()
    assert delivery.state == DeliveryStateChoices.PENDING
    assert delivery.attempts == 0
    service_request.refresh_from_db()
    assert service_request.status == StatusChoices.PENDING_DELIVERY
    assert service_request.timeline.filter(kind=TimelineKindChoices.RETRIED).exists()
    assert (
        AuditEntry.objects.get(action="servicerequest.delivery_retried").actor
        == (cast["global_admin"])
    )


def test_retrying_a_delivery_that_has_not_failed_does_nothing(client_for):
    service_request = ServiceRequestFactory(delivery=DeliveryStateChoices.DELIVERED)
    client_for("global_admin").post(reverse("servicerequests:retry", args=[service_request.number]))
    assert Delivery.objects.get().state == DeliveryStateChoices.DELIVERED
    assert not AuditEntry.objects.exists()


# --- the customer tab, the incident page, the dashboard -------------------------------------


def test_the_customer_tab_lists_open_requests_first(client_for):
    customer = CustomerFactory()
    closed = ServiceRequestFactory(customer=customer, status=StatusChoices.CLOSED)
    older_open = ServiceRequestFactory(customer=customer, status=StatusChoices.OPEN)
    newer_open = ServiceRequestFactory(customer=customer)
    ServiceRequest.objects.filter(pk=older_open.pk).update(
        created_at=timezone.now() - timedelta(days=3)
    )
    other = ServiceRequestFactory()
    response = client_for("helpdesk_agent").get(customer.get_absolute_url(), {"tab": "requests"})
    listed = [sr.number for sr in response.context["service_requests"]]
    assert listed == [newer_open.number, older_open.number, closed.number]
    html = response.content.decode()
    assert other.number not in html
    new_url = f"{reverse('servicerequests:create')}?customer={customer.tenant_id}"
    assert new_url in html


def test_the_customer_tab_query_count_does_not_grow(client_for):
    customer = CustomerFactory()
    client = client_for("helpdesk_agent")
    ServiceRequestFactory(customer=customer)
    client.get(customer.get_absolute_url(), {"tab": "requests"})
    with CaptureQueriesContext(connection) as one:
        client.get(customer.get_absolute_url(), {"tab": "requests"})
    for _ in range(8):
        ServiceRequestFactory(customer=customer, channel=ChannelFactory())
    with CaptureQueriesContext(connection) as many:
        client.get(customer.get_absolute_url(), {"tab": "requests"})
    assert len(many) == len(one)


def test_the_incident_page_escalates_and_lists_its_requests(client_for):
    incident = IncidentFactory()
    linked = ServiceRequestFactory(incident=incident)
    unrelated = ServiceRequestFactory()
    html = client_for("helpdesk_agent").get(incident.get_absolute_url()).content.decode()
    assert f"{reverse('servicerequests:create')}?incident={incident.microsoft_id}" in html
    assert 'data-testid="escalate"' in html
    assert linked.number in html
    assert unrelated.number not in html


def test_the_dashboard_lists_requests_needing_attention(client_for):
    waiting = ServiceRequestFactory(status=StatusChoices.ATTENTION_NEEDED)
    failed = ServiceRequestFactory(status=StatusChoices.DELIVERY_FAILED)
    late = breached(status=StatusChoices.OPEN)
    fine = ServiceRequestFactory(status=StatusChoices.OPEN)
    closed_late = breached(status=StatusChoices.CLOSED)
    response = client_for("helpdesk_agent").get(reverse("dashboard:index"))
    summary = response.context["request_summary"]
    assert {sr.number for sr in summary["recent"]} == {waiting.number, failed.number, late.number}
    assert (summary["total"], summary["attention_needed"], summary["delivery_failed"]) == (3, 1, 1)
    assert summary["breached"] == 1
    html = response.content.decode()
    assert fine.number not in html
    assert closed_late.number not in html
    assert f"{reverse('servicerequests:list')}?attention=true" in html
    assert "Service requests waiting on you will appear here." not in html


def test_the_dashboard_shows_at_most_eight(client_for):
    ServiceRequestFactory.create_batch(10, status=StatusChoices.ATTENTION_NEEDED)
    response = client_for("helpdesk_agent").get(reverse("dashboard:index"))
    assert len(response.context["request_summary"]["recent"]) == 8
    assert response.context["request_summary"]["total"] == 10
