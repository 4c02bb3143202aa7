"""The service requests API across the role matrix: requests (create, idempotency, filters,
incremental sync, close / reopen / assign), notes and timeline, support topics, and the Global
admins' channels (write-only credentials), routing rules and routing test; query budgets."""

import json
import uuid
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from core.models import AuditEntry
from core.throttling import ServiceRequestCreateThrottle
from customers.models import Tag
from incidents.models import Incident
from servicerequests import services
from servicerequests.models import (
    Channel,
    Delivery,
    DeliveryStateChoices,
    RoutingRule,
    ServiceRequest,
    StatusChoices,
    SupportTopic,
    TimelineEntry,
)
from tests.customers.factories import CustomerFactory
from tests.helpers import ADMIN_ONLY, SUPPORT_READS, all_pages, key_set, sync_stamps

LIST_URL = "/api/v1/service-requests/"
TOPICS_URL = "/api/v1/support-topics/"
CHANNELS_URL = "/api/v1/channels/"
RULES_URL = "/api/v1/routing-rules/"
ROUTING_TEST_URL = "/api/v1/routing-rules/test/"
CANARY = "canary-credential-4b1d9e7a-do-not-leak"
# Loopback addresses are allowed in development and tests (OUTBOUND_URL_ALLOWLIST).
HOOK_URL = "http://127.0.0.1:9/hook"

READS = SUPPORT_READS
SUPPORT_WRITES = {
    "global_admin": "ok",
    "admin_agent": "ok",
    "helpdesk_agent": "ok",
    "user_management_admin": 404,
    "no_role": 404,
    "anonymous": 401,
}
ADMIN_WRITES = {
    "global_admin": "ok",
    "admin_agent": 403,
    "helpdesk_agent": 403,
    "user_management_admin": 404,
    "no_role": 404,
    "anonymous": 401,
}

_numbers = iter(range(500000, 999999))


def bearer(token):
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def make_topic(category="technical", name=None, pc_id=""):
    return SupportTopic.objects.create(
        name=name or f"Topic {next(_numbers)}", category=category, partner_center_id=pc_id
    )


def make_channel(kind="webhook", category="technical", credentials=None, **fields):
    endpoints = {
        "webhook": HOOK_URL,
        "partner_center": "http://127.0.0.1:9",
        "email": "x@y.example",
    }
    values = {
        "name": f"{kind} {next(_numbers)}",
        "tier": "commercial" if category == "commercial" else "premier",
        "endpoint": endpoints.get(kind, ""),
        **fields,
    }
    channel = Channel(kind=kind, category=category, **values)
    channel.set_credentials(
        credentials
        if credentials is not None
        else ({"signing_secret": "s"} if kind == "webhook" else {})
    )
    channel.save()
    return channel


@pytest.fixture
def route(db):
    """A technical topic, a webhook channel and the rule that sends the topic there."""
    topic = make_topic(name="Exchange Online")
    channel = make_channel(name="Premier webhook")
    rule = RoutingRule.objects.create(
        position=10, name="Exchange to Premier", support_topic=topic, channel=channel
    )
    return topic, channel, rule


def open_request(topic, customer=None, actor=None, **fields):
    values = {
        "title": "Mail flow delayed",
        "description": "External mail queues for 30 minutes and more.",
        "severity": "moderate",
        "support_topic": topic,
        "customer": customer or CustomerFactory(),
        "contact_name": "Pat Doe",
        "contact_email": "pat@contoso.example",
        **fields,
    }
    return services.open_service_request(actor=actor, **values)


def stamp(service_request, **fields):
    # QuerySet.update() bypasses auto_now: the values are exactly these.
    ServiceRequest.objects.filter(pk=service_request.pk).update(**fields)


def deliver(service_request):
    Delivery.objects.filter(service_request=service_request).update(
        state=DeliveryStateChoices.DELIVERED, delivered_at=timezone.now()
    )
    stamp(service_request, status=StatusChoices.OPEN, channel_reference="2511270010000123")


def payload(topic, customer, **overrides):
    return {
        "title": "Mail flow to external recipients delayed",
        "description": "Since 09:10 UTC mail to external recipients queues for 30+ minutes.",
        "severity": "critical",
        "support_topic": topic.pk,
        "customer": str(customer.tenant_id),
        "primary_contact": {"name": "Pat Doe", "email": "pat@contoso.example", "phone": ""},
        **overrides,
    }


def detail_url(service_request, suffix=""):
    return f"{LIST_URL}{service_request.number}/{suffix}"


def post(client, url, data, **extra):
    return client.post(url, data, content_type="application/json", **extra)


def patch(client, url, data, **extra):
    return client.patch(url, data, content_type="application/json", **extra)


def numbers(response):
    assert response.status_code == 200, response.content
    return [row["number"] for row in response.json()["results"]]


def errors(response):
    return {error["attr"]: error for error in response.json()["errors"]}


# --- service requests: the role matrix -----------------------------------------------------------


@pytest.mark.parametrize("principal, expected", READS.items())
def test_list_by_role(principal, expected, client_for, route):
    service_request = open_request(route[0])
    response = client_for(principal).get(LIST_URL)
    assert response.status_code == expected
    if expected == 200:
        assert numbers(response) == [service_request.number]


@pytest.mark.parametrize("principal, expected", READS.items())
def test_retrieve_by_role(principal, expected, client_for, route):
    service_request = open_request(route[0], title="Teams calls drop")
    response = client_for(principal).get(detail_url(service_request))
    assert response.status_code == expected
    if expected == 200:
        assert response.json()["title"] == "Teams calls drop"


@pytest.mark.parametrize("principal, expected", SUPPORT_WRITES.items())
def test_create_by_role(principal, expected, client_for, route):
    response = post(client_for(principal), LIST_URL, payload(route[0], CustomerFactory()))
    count = ServiceRequest.objects.count()
    if expected == "ok":
        assert response.status_code == 201, response.content
        assert count == 1
    else:
        assert response.status_code == expected
        assert count == 0


@pytest.mark.parametrize("principal, expected", SUPPORT_WRITES.items())
def test_assign_by_role(principal, expected, client_for, cast, route):
    service_request = open_request(route[0])
    response = patch(
        client_for(principal),
        detail_url(service_request),
        {"assignee": "admin-agent@partner.example"},
    )
    service_request.refresh_from_db()
    if expected == "ok":
        assert response.status_code == 200
        assert service_request.assignee == cast["admin_agent"]
    else:
        assert response.status_code == expected
        assert service_request.assignee is None


@pytest.mark.parametrize("principal, expected", READS.items())
@pytest.mark.parametrize("nested", ["notes", "timeline"])
def test_nested_lists_by_role(nested, principal, expected, client_for, route):
    service_request = open_request(route[0])
    services.add_note(service_request, text="Customer confirmed the impact.")
    response = client_for(principal).get(detail_url(service_request, f"{nested}/"))
    assert response.status_code == expected
    if expected == 200:
        assert len(response.json()) == (1 if nested == "notes" else 3)


@pytest.mark.parametrize("principal, expected", SUPPORT_WRITES.items())
def test_add_note_by_role(principal, expected, client_for, route):
    service_request = open_request(route[0])
    response = post(client_for(principal), detail_url(service_request, "notes/"), {"text": "Hi"})
    count = service_request.notes.count()
    if expected == "ok":
        assert response.status_code == 201
        assert count == 1
    else:
        assert response.status_code == expected
        assert count == 0


def test_a_read_only_token_reads_but_cannot_write(api_token_for, route):
    token = api_token_for(Role.HELPDESK_AGENT, scopes=["read"])
    service_request = open_request(route[0])
    client = Client()
    assert client.get(detail_url(service_request), **bearer(token)).status_code == 200
    writes = [
        post(client, LIST_URL, payload(route[0], CustomerFactory()), **bearer(token)),
        patch(client, detail_url(service_request), {"status": "closed"}, **bearer(token)),
        post(client, detail_url(service_request, "notes/"), {"text": "x"}, **bearer(token)),
    ]
    for response in writes:
        assert response.status_code == 403
        assert "write" in response.json()["errors"][0]["detail"]
    assert ServiceRequest.objects.count() == 1
    assert service_request.notes.count() == 0
    assert not AuditEntry.objects.filter(action="servicerequest.status_changed").exists()


def test_requests_are_not_deleted_or_replaced(client_for, route):
    service_request = open_request(route[0])
    signed_in = client_for("global_admin")
    assert signed_in.delete(detail_url(service_request)).status_code == 405
    response = signed_in.put(
        detail_url(service_request), {"status": "closed"}, content_type="application/json"
    )
    assert response.status_code == 405
    assert ServiceRequest.objects.filter(pk=service_request.pk).exists()


@pytest.mark.parametrize("number", ["SR-999999", "not-a-number", "123"])
def test_an_unknown_request_is_not_found(number, client_for, route):
    open_request(route[0])
    assert client_for("helpdesk_agent").get(f"{LIST_URL}{number}/").status_code == 404


# --- opening a request -------------------------------------------------------------------------


def test_create_opens_routes_and_answers_with_the_request(client_for, cast, route):
    topic, channel, rule = route
    customer = CustomerFactory(company_name="Contoso Ltd")
    incident = Incident.objects.create(
        microsoft_id="EX123456", classification="incident", status="serviceDegradation", title="x"
    )
    body = payload(
        topic,
        customer,
        primary_contact={"name": "Pat Doe", "email": "pat@contoso.example", "phone": "+44 20"},
        incident="EX123456",
        assignee="Admin-Agent@Partner.example",
        locale="tr-TR",
    )
    before = timezone.now()
    response = post(client_for("helpdesk_agent"), LIST_URL, body)
    assert response.status_code == 201, response.content
    data = response.json()
    service_request = ServiceRequest.objects.get()
    assert response["Location"] == data["url"]
    assert data["url"] == f"http://testserver{LIST_URL}{service_request.number}/"
    assert set(data) == key_set(
        "url number title description severity category status support_topic customer"
        " primary_contact channel channel_reference incident assignee locale response_due_at"
        " first_response_at is_breached created_at modified_at closed_at delivery"
    )
    assert data["number"] == f"SR-{service_request.pk:06d}"
    assert data["category"] == "technical"  # from the topic
    assert data["status"] == "pending_delivery"
    assert data["support_topic"] == {"id": topic.pk, "name": "Exchange Online"}
    assert data["customer"] == {"tenant_id": str(customer.tenant_id), "company_name": "Contoso Ltd"}
    assert data["primary_contact"] == body["primary_contact"]
    assert data["channel"] == {"id": channel.pk, "name": "Premier webhook", "kind": "webhook"}
    assert data["incident"] == "EX123456"
    assert data["assignee"] == "admin-agent@partner.example"
    assert data["locale"] == "tr-TR"
    assert data["is_breached"] is False
    assert data["first_response_at"] is None
    assert data["delivery"]["state"] == "pending"
    assert data["delivery"]["attempts"] == 0
    due = service_request.response_due_at
    assert timedelta(hours=2) <= due - before <= timedelta(hours=2, minutes=1)  # critical
    assert service_request.created_by == cast["helpdesk_agent"]
    assert service_request.incident == incident
    kinds = list(service_request.timeline.values_list("kind", flat=True))
    assert kinds == ["created", "routed"]
    assert rule.name in service_request.timeline.get(kind="routed").message
    entry = AuditEntry.objects.get(action="servicerequest.created")
    assert entry.actor == cast["helpdesk_agent"]
    assert entry.target_id == str(service_request.pk)


def test_a_token_opens_a_request_as_its_api_client(api_token_for, route):
    token = api_token_for(Role.HELPDESK_AGENT)
    response = post(Client(), LIST_URL, payload(route[0], CustomerFactory()), **bearer(token))
    assert response.status_code == 201
    assert ServiceRequest.objects.get().created_by.is_api_client


def test_opening_requests_has_its_own_tighter_bucket(api_token_for, route, monkeypatch):
    assert (
        ServiceRequestCreateThrottle().rate
        == (settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["service_request_create"])
    )
    monkeypatch.setattr(ServiceRequestCreateThrottle, "rate", "2/min", raising=False)
    flooding = api_token_for(Role.HELPDESK_AGENT)
    other = api_token_for(Role.HELPDESK_AGENT)
    customer = CustomerFactory()
    first = post(Client(), LIST_URL, payload(route[0], customer), **bearer(flooding))
    assert first.status_code == 201
    url = first["Location"]
    # Reads and other writes, more of them than the create rate allows, are not counted.
    for n in range(3):
        assert Client().get(LIST_URL, **bearer(flooding)).status_code == 200
        assert Client().get(url, **bearer(flooding)).status_code == 200
        note = post(Client(), f"{url}notes/", {"text": f"Update {n}"}, **bearer(flooding))
        assert note.status_code == 201
    second = post(Client(), LIST_URL, payload(route[0], customer), **bearer(flooding))
    assert second.status_code == 201
    throttled = post(Client(), LIST_URL, payload(route[0], customer), **bearer(flooding))
    assert throttled.status_code == 429
    assert throttled["Retry-After"].isdigit() and 0 < int(throttled["Retry-After"]) <= 60
    body = throttled.json()
    assert body["type"] == "client_error"
    assert body["errors"][0]["code"] == "throttled"
    assert ServiceRequest.objects.count() == 2
    # Only opening is held back: the same client still reads and writes notes.
    assert Client().get(LIST_URL, **bearer(flooding)).status_code == 200
    note = post(Client(), f"{url}notes/", {"text": "Still here"}, **bearer(flooding))
    assert note.status_code == 201
    # Another client has a bucket of its own.
    for _n in range(2):
        response = post(Client(), LIST_URL, payload(route[0], customer), **bearer(other))
        assert response.status_code == 201
    assert ServiceRequest.objects.count() == 4


def test_a_person_opening_requests_has_the_same_bucket(client_for, route, monkeypatch):
    monkeypatch.setattr(ServiceRequestCreateThrottle, "rate", "1/min", raising=False)
    signed_in = client_for("helpdesk_agent")
    body = payload(route[0], CustomerFactory())
    assert post(signed_in, LIST_URL, body).status_code == 201
    assert post(signed_in, LIST_URL, body).status_code == 429
    assert post(client_for("admin_agent"), LIST_URL, body).status_code == 201


@pytest.mark.parametrize(
    "overrides, attr",
    [
        ({"severity": "catastrophic"}, "severity"),
        ({"support_topic": 987654}, "support_topic"),
        ({"customer": str(uuid.uuid4())}, "customer"),
        ({"customer": "not-a-tenant"}, "customer"),
        ({"category": "commercial"}, "support_topic"),  # a technical topic
        ({"primary_contact": {"name": "Pat", "email": "not-an-email"}}, "primary_contact.email"),
        ({"incident": "EX000000"}, "incident"),
        ({"assignee": "user-management-admin@partner.example"}, "assignee"),
        ({"locale": "../../admin"}, "locale"),
        ({"title": ""}, "title"),
        ({"title": "  SR    "}, "title"),  # two characters once whitespace is collapsed
        ({"description": "x" * 10001}, "description"),
        ({"description": "Broken."}, "description"),
        ({"description": "Broken." + " " * 30}, "description"),
    ],
)
def test_create_reports_field_errors(overrides, attr, client_for, route):
    body = {**payload(route[0], CustomerFactory()), **overrides}
    response = post(client_for("helpdesk_agent"), LIST_URL, body)
    assert response.status_code == 400
    assert response.json()["type"] == "validation_error"
    assert attr in errors(response), response.json()
    assert not ServiceRequest.objects.exists()


def test_an_inactive_topic_cannot_be_chosen(client_for, route):
    topic = route[0]
    topic.active = False
    topic.save()
    response = post(client_for("helpdesk_agent"), LIST_URL, payload(topic, CustomerFactory()))
    assert response.status_code == 400
    assert set(errors(response)) == {"support_topic"}


def test_missing_fields_are_each_reported(client_for, db):
    response = post(client_for("helpdesk_agent"), LIST_URL, {})
    assert response.status_code == 400
    assert {
        "title",
        "description",
        "severity",
        "support_topic",
        "customer",
        "primary_contact",
    } <= set(errors(response))


def test_no_route_is_a_clear_400_and_opens_nothing(client_for, route):
    Channel.objects.update(enabled=False)  # the seeded fallbacks too
    response = post(client_for("helpdesk_agent"), LIST_URL, payload(route[0], CustomerFactory()))
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["code"] == "no_route"
    assert "No support channel takes technical requests" in error["detail"]
    assert not ServiceRequest.objects.exists()
    assert not Delivery.objects.exists()
    assert not AuditEntry.objects.filter(action="servicerequest.created").exists()


# --- idempotency (W3, docs/reliability.md) -----------------------------------------------------


def test_the_same_key_and_body_twice_open_one_request_and_replay_the_answer(client_for, route):
    signed_in = client_for("helpdesk_agent")
    body = payload(route[0], CustomerFactory())
    key = {"HTTP_IDEMPOTENCY_KEY": str(uuid.uuid4())}
    first = post(signed_in, LIST_URL, body, **key)
    # The same body with its keys in another order is the same request.
    second = signed_in.post(
        LIST_URL, json.dumps(dict(reversed(body.items()))), content_type="application/json", **key
    )
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.content == first.content
    assert second["Location"] == first["Location"]
    assert second["Idempotent-Replayed"] == "true"
    assert not first.has_header("Idempotent-Replayed")
    assert ServiceRequest.objects.count() == 1
    assert AuditEntry.objects.filter(action="servicerequest.created").count() == 1


def test_the_same_key_with_another_body_is_refused_with_422(client_for, route):
    signed_in = client_for("helpdesk_agent")
    customer = CustomerFactory()
    key = {"HTTP_IDEMPOTENCY_KEY": "psa-ticket-4411"}
    assert post(signed_in, LIST_URL, payload(route[0], customer), **key).status_code == 201
    response = post(signed_in, LIST_URL, payload(route[0], customer, severity="minimal"), **key)
    assert response.status_code == 422
    body = response.json()
    assert body["type"] == "client_error"
    assert body["errors"][0]["code"] == "idempotency_key_reused"
    assert body["errors"][0]["attr"] is None
    assert ServiceRequest.objects.count() == 1


def test_keys_belong_to_their_caller(client_for, api_token_for, route):
    body = payload(route[0], CustomerFactory())
    key = {"HTTP_IDEMPOTENCY_KEY": "same-key"}
    assert post(client_for("helpdesk_agent"), LIST_URL, body, **key).status_code == 201
    assert post(client_for("admin_agent"), LIST_URL, body, **key).status_code == 201
    token = api_token_for(Role.HELPDESK_AGENT)
    assert post(Client(), LIST_URL, body, **key, **bearer(token)).status_code == 201
    assert ServiceRequest.objects.count() == 3


def test_without_a_key_each_post_opens_a_request(client_for, route):
    signed_in = client_for("helpdesk_agent")
    body = payload(route[0], CustomerFactory())
    assert post(signed_in, LIST_URL, body).status_code == 201
    assert post(signed_in, LIST_URL, body).status_code == 201
    assert ServiceRequest.objects.count() == 2


def test_a_failed_request_keeps_nothing_so_the_key_can_be_retried(client_for, route):
    signed_in = client_for("helpdesk_agent")
    key = {"HTTP_IDEMPOTENCY_KEY": "retry-me"}
    customer = CustomerFactory()
    bad = post(signed_in, LIST_URL, payload(route[0], customer, severity="urgent"), **key)
    assert bad.status_code == 400
    good = post(signed_in, LIST_URL, payload(route[0], customer), **key)
    assert good.status_code == 201
    assert ServiceRequest.objects.count() == 1


def test_a_key_still_in_progress_answers_409(client_for, cast, route):
    from servicerequests.idempotency import fingerprint
    from servicerequests.models import ApiIdempotencyKey

    user = cast["helpdesk_agent"]
    busy = ApiIdempotencyKey.objects.create(user=user, key="busy-key", fingerprint="another")
    body = payload(route[0], CustomerFactory())
    response = post(client_for("helpdesk_agent"), LIST_URL, body, HTTP_IDEMPOTENCY_KEY="busy-key")
    assert response.status_code == 422  # another body: refused whatever its state

    class Same:
        method, path, data = "POST", LIST_URL, body

    busy.fingerprint = fingerprint(Same)
    busy.save()
    response = post(client_for("helpdesk_agent"), LIST_URL, body, HTTP_IDEMPOTENCY_KEY="busy-key")
    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "idempotency_key_in_progress"
    assert not ServiceRequest.objects.exists()


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "tab\there"])
def test_a_malformed_key_is_a_400(key, client_for, route):
    response = post(
        client_for("helpdesk_agent"),
        LIST_URL,
        payload(route[0], CustomerFactory()),
        HTTP_IDEMPOTENCY_KEY=key,
    )
    assert response.status_code == 400
    assert set(errors(response)) == {"Idempotency-Key"}
    assert not ServiceRequest.objects.exists()


def test_keys_hold_through_a_cache_outage(client_for, route, monkeypatch):
    # Keys live in the database, written with the request: the cache plays no part.
    def down(*args, **kwargs):
        raise ConnectionError("cache is down")

    for operation in ("add", "get", "set", "delete"):
        monkeypatch.setattr(cache, operation, down)
    body = payload(route[0], CustomerFactory())
    first = post(client_for("helpdesk_agent"), LIST_URL, body, HTTP_IDEMPOTENCY_KEY="k1")
    again = post(client_for("helpdesk_agent"), LIST_URL, body, HTTP_IDEMPOTENCY_KEY="k1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert ServiceRequest.objects.count() == 1


# --- filters and incremental sync --------------------------------------------------------------


def test_filter_by_status_severity_category_customer_and_channel(client_for, route):
    topic, channel, _rule = route
    commercial_topic = make_topic("commercial")
    contoso = CustomerFactory()
    critical = open_request(topic, customer=contoso, severity="critical")
    minimal = open_request(topic, severity="minimal")
    commercial = open_request(commercial_topic)  # the seeded commercial fallback channel
    stamp(minimal, status=StatusChoices.CLOSED)
    signed_in = client_for("helpdesk_agent")

    def query(**params):
        return set(numbers(signed_in.get(LIST_URL, params)))

    assert query(status="closed") == {minimal.number}
    assert query(severity="critical") == {critical.number}
    assert query(category="commercial") == {commercial.number}
    assert query(customer=str(contoso.tenant_id)) == {critical.number}
    assert query(channel=channel.pk) == {critical.number, minimal.number}
    assert query(channel=commercial.channel_id) == {commercial.number}
    for bad in ({"status": "asleep"}, {"customer": "not-a-tenant"}, {"severity": "high"}):
        response = signed_in.get(LIST_URL, bad)
        assert response.status_code == 400
        assert set(errors(response)) == set(bad)


@pytest.mark.parametrize("field", ["number", "title", "reference"])
def test_search_by_number_title_or_reference(field, client_for, route):
    wanted = open_request(route[0], title="Teams meetings drop after 10 minutes")
    other = open_request(route[0], title="Mailbox full")
    deliver(wanted)
    stamp(other, channel_reference="9999")
    query = {
        "number": wanted.number.lower(),
        "title": "MEETINGS DROP",
        "reference": "2511270010000123",
    }[field]
    response = client_for("helpdesk_agent").get(LIST_URL, {"q": query})
    assert numbers(response) == [wanted.number]


def test_mine_means_assigned_to_or_opened_by_the_caller(client_for, cast, route):
    topic = route[0]
    opened = open_request(topic, actor=cast["helpdesk_agent"])
    assigned = open_request(topic, actor=cast["admin_agent"], assignee=cast["helpdesk_agent"])
    theirs = open_request(topic, actor=cast["admin_agent"])
    signed_in = client_for("helpdesk_agent")
    assert set(numbers(signed_in.get(LIST_URL, {"mine": "true"}))) == {
        opened.number,
        assigned.number,
    }
    assert set(numbers(client_for("admin_agent").get(LIST_URL, {"mine": "true"}))) == {
        assigned.number,
        theirs.number,
    }
    assert len(numbers(signed_in.get(LIST_URL, {"mine": "false"}))) == 3


def test_breached_means_overdue_without_a_first_response(client_for, route):
    topic = route[0]
    past = timezone.now() - timedelta(minutes=5)
    overdue = open_request(topic)
    answered = open_request(topic)
    closed = open_request(topic)
    open_request(topic)  # not due yet
    stamp(overdue, response_due_at=past)
    stamp(answered, response_due_at=past, first_response_at=past)
    stamp(closed, response_due_at=past, status=StatusChoices.CLOSED)
    response = client_for("helpdesk_agent").get(LIST_URL, {"breached": "true"})
    assert numbers(response) == [overdue.number]
    assert response.json()["results"][0]["is_breached"] is True


def test_modified_since_pages_through_each_request_exactly_once(client_for, route):
    cutoff = timezone.now() - timedelta(hours=1)
    stamps = sync_stamps(cutoff)
    requests = {}
    for label, moment in stamps.items():
        requests[label] = open_request(route[0])
        stamp(requests[label], modified_at=moment)
    signed_in = client_for("helpdesk_agent")
    response = signed_in.get(LIST_URL, {"modified_since": cutoff.isoformat(), "page_size": 2})
    pages = all_pages(signed_in, response)
    seen = [number for page in pages for number in numbers(page)]
    # modified_since is exclusive: the row stamped exactly at it came with an earlier poll.
    assert len(seen) == len(set(seen)) == 4
    assert set(seen) == {
        requests[label].number for label in stamps if label not in ("before", "at")
    }
    assert len(pages) == 2
    assert seen[0] == requests["tie-1"].number
    assert seen[-1] == requests["after"].number


# --- close, reopen, assign ---------------------------------------------------------------------


def test_closing_and_reopening_write_the_timeline_and_the_audit_log(client_for, cast, route):
    service_request = open_request(route[0])
    deliver(service_request)
    signed_in = client_for("helpdesk_agent")
    response = patch(signed_in, detail_url(service_request), {"status": "closed"})
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "closed"
    assert response.json()["closed_at"] is not None
    entry = AuditEntry.objects.get(action="servicerequest.status_changed")
    assert entry.actor == cast["helpdesk_agent"]
    assert (entry.before["status"], entry.after["status"]) == ("open", "closed")
    assert entry.ip_address == "127.0.0.1"
    response = patch(signed_in, detail_url(service_request), {"status": "open"})
    assert response.json()["status"] == "open"
    changes = service_request.timeline.filter(kind="status_changed")
    assert changes.count() == 2
    assert all(change.actor == cast["helpdesk_agent"] for change in changes)
    assert AuditEntry.objects.filter(action="servicerequest.status_changed").count() == 2


def test_open_on_a_request_that_is_not_closed_changes_nothing(client_for, route):
    service_request = open_request(route[0])
    deliver(service_request)
    response = patch(client_for("helpdesk_agent"), detail_url(service_request), {"status": "open"})
    assert response.status_code == 200
    assert not service_request.timeline.filter(kind="status_changed").exists()


def test_a_request_still_being_delivered_cannot_be_closed(client_for, route):
    service_request = open_request(route[0])  # its delivery is pending
    response = patch(
        client_for("helpdesk_agent"), detail_url(service_request), {"status": "closed"}
    )
    assert response.status_code == 400
    assert errors(response)["status"]["code"] == "in_flight"
    service_request.refresh_from_db()
    assert service_request.status == StatusChoices.PENDING_DELIVERY


def test_a_reopened_request_that_failed_delivery_shows_it_again(client_for, route):
    service_request = open_request(route[0])
    Delivery.objects.filter(service_request=service_request).update(
        state=DeliveryStateChoices.FAILED
    )
    stamp(service_request, status=StatusChoices.DELIVERY_FAILED)
    signed_in = client_for("helpdesk_agent")
    assert patch(signed_in, detail_url(service_request), {"status": "closed"}).status_code == 200
    response = patch(signed_in, detail_url(service_request), {"status": "open"})
    assert response.json()["status"] == "delivery_failed"


@pytest.mark.parametrize("status_value", ["pending_delivery", "attention_needed", "gone"])
def test_only_open_and_closed_may_be_set(status_value, client_for, route):
    service_request = open_request(route[0])
    response = patch(
        client_for("helpdesk_agent"), detail_url(service_request), {"status": status_value}
    )
    assert response.status_code == 400
    assert set(errors(response)) == {"status"}


def test_assigning_writes_the_timeline_and_the_audit_log(client_for, cast, route):
    service_request = open_request(route[0])
    signed_in = client_for("helpdesk_agent")
    response = patch(
        signed_in, detail_url(service_request), {"assignee": "ADMIN-AGENT@partner.example"}
    )
    assert response.status_code == 200
    assert response.json()["assignee"] == "admin-agent@partner.example"
    entry = service_request.timeline.get(kind="assigned")
    assert entry.actor == cast["helpdesk_agent"]
    audit = AuditEntry.objects.get(action="servicerequest.assigned")
    assert audit.after["assignee_id"] == cast["admin_agent"].pk
    response = patch(signed_in, detail_url(service_request), {"assignee": None})
    assert response.json()["assignee"] is None
    assert service_request.timeline.filter(kind="assigned").count() == 2
    # The same assignee again changes nothing.
    patch(signed_in, detail_url(service_request), {"assignee": None})
    assert service_request.timeline.filter(kind="assigned").count() == 2


@pytest.mark.parametrize(
    "who", ["user-management-admin@partner.example", "inactive@partner.example", "nobody@x.test"]
)
def test_only_active_support_staff_can_be_assigned(who, client_for, route):
    service_request = open_request(route[0])
    response = patch(client_for("helpdesk_agent"), detail_url(service_request), {"assignee": who})
    assert response.status_code == 400
    assert set(errors(response)) == {"assignee"}


def test_an_api_client_cannot_be_assigned(client_for, api_token_for, route):
    api_token_for(Role.HELPDESK_AGENT)
    from accounts.models import ApiClient

    email = ApiClient.objects.get().user.email
    service_request = open_request(route[0])
    response = patch(client_for("helpdesk_agent"), detail_url(service_request), {"assignee": email})
    assert response.status_code == 400


@pytest.mark.parametrize(
    "field, value",
    [
        ("title", "New title"),
        ("description", "New description"),
        ("severity", "minimal"),
        ("customer", str(uuid.uuid4())),
        ("channel_reference", "123"),
    ],
)
def test_fields_fixed_after_filing_cannot_change(field, value, client_for, route):
    service_request = open_request(route[0])
    response = patch(
        client_for("helpdesk_agent"), detail_url(service_request), {field: value, "status": "open"}
    )
    assert response.status_code == 400
    assert errors(response)[field]["code"] == "read_only"
    refreshed = ServiceRequest.objects.get(pk=service_request.pk)
    assert (refreshed.title, refreshed.severity) == (service_request.title, "moderate")
    assert not AuditEntry.objects.exclude(action="servicerequest.created").exists()


# --- notes and timeline ------------------------------------------------------------------------


def test_notes_are_added_and_listed_oldest_first(client_for, cast, route):
    service_request = open_request(route[0])
    signed_in = client_for("helpdesk_agent")
    response = post(signed_in, detail_url(service_request, "notes/"), {"text": "Called Pat."})
    assert response.status_code == 201
    data = response.json()
    assert set(data) == {"id", "author_name", "text", "from_channel", "created_at"}
    assert data["author_name"] == cast["helpdesk_agent"].get_full_name()
    assert data["from_channel"] is False
    services.add_note(service_request, text="Microsoft asks for logs.", from_channel=True)
    notes = signed_in.get(detail_url(service_request, "notes/")).json()
    assert [note["text"] for note in notes] == ["Called Pat.", "Microsoft asks for logs."]
    assert notes[1]["from_channel"] is True
    assert service_request.timeline.filter(kind="note", actor=cast["helpdesk_agent"]).exists()
    audit = AuditEntry.objects.get(action="servicerequest.note_added")
    assert audit.actor == cast["helpdesk_agent"]


@pytest.mark.parametrize("text", ["", "x" * 5001])
def test_a_bad_note_is_a_field_error(text, client_for, route):
    service_request = open_request(route[0])
    response = post(
        client_for("helpdesk_agent"), detail_url(service_request, "notes/"), {"text": text}
    )
    assert response.status_code == 400
    assert set(errors(response)) == {"text"}
    assert not service_request.notes.exists()


def test_the_timeline_is_oldest_first(client_for, cast, route):
    service_request = open_request(route[0], actor=cast["admin_agent"])
    TimelineEntry.objects.filter(service_request=service_request, kind="created").update(
        created_at=timezone.now() - timedelta(hours=1)
    )
    services.add_note(service_request, text="Later", actor=cast["helpdesk_agent"])
    response = client_for("helpdesk_agent").get(detail_url(service_request, "timeline/"))
    assert response.status_code == 200
    timeline = response.json()
    assert [entry["kind"] for entry in timeline] == ["created", "routed", "note"]
    assert set(timeline[0]) == {"kind", "message", "actor_name", "created_at"}
    assert timeline[0]["actor_name"] == cast["admin_agent"].get_full_name()
    assert timeline[2]["message"] == "Later"


# --- support topics ----------------------------------------------------------------------------


@pytest.mark.parametrize("principal, expected", READS.items())
def test_topics_by_role(principal, expected, client_for, db):
    topic = make_topic(name="Exchange Online (test)")
    response = client_for(principal).get(TOPICS_URL, {"page_size": 500})
    assert response.status_code == expected
    if expected == 200:
        assert topic.pk in [row["id"] for row in response.json()["results"]]


@pytest.mark.parametrize("principal, expected", ADMIN_WRITES.items())
def test_create_topic_by_role(principal, expected, client_for, db):
    body = {"name": "Viva Engage", "category": "technical", "partner_center_id": "32449999"}
    response = post(client_for(principal), TOPICS_URL, body)
    created = SupportTopic.objects.filter(name="Viva Engage").exists()
    if expected == "ok":
        assert response.status_code == 201
        assert response.json()["active"] is True
        assert created
        assert AuditEntry.objects.filter(action="support_topic.created").exists()
    else:
        assert response.status_code == expected
        assert not created


@pytest.mark.parametrize("principal, expected", ADMIN_WRITES.items())
def test_update_topic_by_role(principal, expected, client_for, db):
    topic = make_topic(name="Old name")
    response = patch(client_for(principal), f"{TOPICS_URL}{topic.pk}/", {"active": False})
    topic.refresh_from_db()
    if expected == "ok":
        assert response.status_code == 200
        assert topic.active is False
        assert AuditEntry.objects.get(action="support_topic.updated").before["active"] is True
    else:
        assert response.status_code == expected
        assert topic.active is True


def test_topics_filter_and_validate(client_for, db):
    make_topic("commercial", name="Billing (test)")
    signed_in = client_for("global_admin")
    rows = signed_in.get(TOPICS_URL, {"category": "commercial", "active": "true"}).json()["results"]
    assert rows and all(row["category"] == "commercial" for row in rows)
    taken = SupportTopic.objects.exclude(partner_center_id="").first().partner_center_id
    for pc_id, message in [("abc", "digits only"), (taken, "Another support topic")]:
        response = post(
            signed_in,
            TOPICS_URL,
            {"name": "x", "category": "technical", "partner_center_id": pc_id},
        )
        assert response.status_code == 400
        assert message in errors(response)["partner_center_id"]["detail"]
    topic = make_topic()
    assert signed_in.delete(f"{TOPICS_URL}{topic.pk}/").status_code == 405


# --- channels ----------------------------------------------------------------------------------


def new_channel_body(**overrides):
    return {
        "name": "Advanced Support webhook",
        "kind": "webhook",
        "category": "technical",
        "tier": "advanced",
        "endpoint": HOOK_URL,
        "credentials": {"signing_secret": CANARY},
        "enabled": True,
        **overrides,
    }


def assert_no_canary(response):
    assert CANARY not in response.content.decode()


@pytest.mark.parametrize("principal, expected", ADMIN_ONLY.items())
@pytest.mark.parametrize("url", [CHANNELS_URL, RULES_URL])
def test_admin_lists_by_role(url, principal, expected, client_for, route):
    response = client_for(principal).get(url)
    assert response.status_code == (200 if expected == "ok" else expected)


@pytest.mark.parametrize("principal, expected", ADMIN_ONLY.items())
def test_create_channel_by_role(principal, expected, client_for, db):
    response = post(client_for(principal), CHANNELS_URL, new_channel_body())
    created = Channel.objects.filter(name="Advanced Support webhook").exists()
    if expected == "ok":
        assert response.status_code == 201, response.content
        assert created
    else:
        assert response.status_code == expected
        assert not created
    assert_no_canary(response)


def test_a_global_admin_token_manages_channels_but_an_agent_token_sees_nothing(api_token_for, db):
    admin = api_token_for(Role.GLOBAL_ADMIN)
    agent = api_token_for(Role.ADMIN_AGENT)
    response = post(Client(), CHANNELS_URL, new_channel_body(), **bearer(admin))
    assert response.status_code == 201
    assert Client().get(CHANNELS_URL, **bearer(agent)).status_code == 404
    read_only = api_token_for(Role.GLOBAL_ADMIN, scopes=["read"])
    response = post(Client(), CHANNELS_URL, new_channel_body(name="Other"), **bearer(read_only))
    assert response.status_code == 403


def test_credentials_are_write_only_and_stored_encrypted(client_for, db):
    signed_in = client_for("global_admin")
    response = post(signed_in, CHANNELS_URL, new_channel_body())
    assert response.status_code == 201
    assert_no_canary(response)
    data = response.json()
    assert "credentials" not in data
    assert data["has_credentials"] is True
    assert data["needs_attention"] is False
    assert data["url"] == f"http://testserver{CHANNELS_URL}{data['id']}/"
    channel = Channel.objects.get(pk=data["id"])
    assert channel.credentials == {"signing_secret": CANARY}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT credentials_encrypted FROM servicerequests_channel WHERE id = %s", [channel.pk]
        )
        (raw,) = cursor.fetchone()
    assert raw and CANARY not in raw
    for url in (CHANNELS_URL, f"{CHANNELS_URL}{channel.pk}/"):
        assert_no_canary(signed_in.get(url))
    # A new secret replaces it; leaving it out keeps it.
    response = patch(
        signed_in, f"{CHANNELS_URL}{channel.pk}/", {"credentials": {"signing_secret": CANARY + "2"}}
    )
    assert response.status_code == 200
    assert_no_canary(response)
    response = patch(signed_in, f"{CHANNELS_URL}{channel.pk}/", {"name": "Renamed"})
    assert_no_canary(response)
    channel.refresh_from_db()
    assert channel.credentials == {"signing_secret": CANARY + "2"}
    entries = AuditEntry.objects.filter(target_type="servicerequests.channel")
    assert entries.count() == 3
    assert all(CANARY not in json.dumps([e.before, e.after, e.target_repr]) for e in entries)


@pytest.mark.parametrize(
    "overrides, attr",
    [
        ({"endpoint": "https://10.0.0.5/hook"}, "endpoint"),
        ({"endpoint": "ftp://127.0.0.1/hook"}, "endpoint"),
        ({"endpoint": ""}, "endpoint"),
        (
            {
                "kind": "partner_center",
                "endpoint": "http://192.168.1.1",
                "credentials": {"access_token": CANARY},
            },
            "endpoint",
        ),
        ({"kind": "email", "endpoint": "not-an-address", "credentials": {}}, "endpoint"),
        ({"credentials": {}}, "credentials.signing_secret"),
        ({"credentials": {"access_token": CANARY}}, "credentials"),
        ({"credentials": {CANARY: CANARY}}, "credentials"),
        ({"credentials": ["not", "an", "object"]}, "credentials"),
        ({"kind": "carrier_pigeon"}, "kind"),
    ],
)
def test_channel_errors_never_quote_a_secret(overrides, attr, client_for, db):
    response = post(client_for("global_admin"), CHANNELS_URL, new_channel_body(**overrides))
    assert response.status_code == 400
    assert attr in errors(response), response.json()
    assert_no_canary(response)
    assert not Channel.objects.filter(name="Advanced Support webhook").exists()


def test_channel_state_fields_are_read_only(client_for, db):
    channel = make_channel()
    Channel.objects.filter(pk=channel.pk).update(
        needs_attention=True, last_error="401 from the receiver"
    )
    response = patch(
        client_for("global_admin"),
        f"{CHANNELS_URL}{channel.pk}/",
        {"name": "Renamed", "needs_attention": False, "last_error": "", "last_error_at": None},
    )
    assert response.status_code == 200
    channel.refresh_from_db()
    assert channel.name == "Renamed"
    assert channel.needs_attention is True
    assert channel.last_error == "401 from the receiver"


def test_channels_and_rules_are_not_deleted(client_for, route):
    _topic, channel, rule = route
    signed_in = client_for("global_admin")
    assert signed_in.delete(f"{CHANNELS_URL}{channel.pk}/").status_code == 405
    assert signed_in.delete(f"{RULES_URL}{rule.pk}/").status_code == 405


# --- routing rules -----------------------------------------------------------------------------


@pytest.mark.parametrize("principal, expected", ADMIN_ONLY.items())
def test_create_rule_by_role(principal, expected, client_for, route):
    topic, channel, _rule = route
    body = {"position": 5, "name": "Critical first", "severity": "critical", "channel": channel.pk}
    response = post(client_for(principal), RULES_URL, body)
    created = RoutingRule.objects.filter(name="Critical first").exists()
    if expected == "ok":
        assert response.status_code == 201, response.content
        assert created
        assert AuditEntry.objects.filter(action="routing_rule.created").exists()
    else:
        assert response.status_code == expected
        assert not created


def test_rules_are_listed_in_order_and_updated(client_for, route):
    topic, channel, rule = route
    first = RoutingRule.objects.create(position=1, name="First", channel=channel, enabled=False)
    signed_in = client_for("global_admin")
    # The list is in sync order; each rule carries the position it is tried in.
    rows = sorted(
        signed_in.get(RULES_URL).json()["results"], key=lambda row: (row["position"], row["id"])
    )
    assert [row["name"] for row in rows][:2] == ["First", rule.name]
    assert set(rows[1]) == key_set(
        "url id position name category severity support_topic customer_tag channel enabled"
        " modified_at"
    )
    assert rows[1]["support_topic"] == topic.pk
    assert rows[1]["channel"] == channel.pk
    response = patch(
        signed_in, f"{RULES_URL}{first.pk}/", {"enabled": True, "customer_tag": " vip "}
    )
    assert response.status_code == 200
    first.refresh_from_db()
    assert (first.enabled, first.customer_tag) == (True, "vip")
    assert AuditEntry.objects.get(action="routing_rule.updated").before["enabled"] is False


def test_a_rule_that_could_never_match_is_refused(client_for, route):
    topic, channel, _rule = route
    commercial_topic = make_topic("commercial")
    signed_in = client_for("global_admin")
    response = post(
        signed_in, RULES_URL, {"name": "x", "category": "commercial", "channel": channel.pk}
    )
    assert response.status_code == 400
    assert set(errors(response)) == {"channel"}
    response = post(
        signed_in,
        RULES_URL,
        {
            "name": "x",
            "category": "technical",
            "support_topic": commercial_topic.pk,
            "channel": channel.pk,
        },
    )
    assert response.status_code == 400
    assert "support_topic" in errors(response)


@pytest.mark.parametrize("principal, expected", ADMIN_ONLY.items())
def test_routing_test_by_role(principal, expected, client_for, route):
    body = {"severity": "moderate", "support_topic": route[0].pk}
    response = post(client_for(principal), ROUTING_TEST_URL, body)
    assert response.status_code == (200 if expected == "ok" else expected)


def test_routing_test_explains_the_decision(client_for, route):
    topic, channel, rule = route
    vip_channel = make_channel(name="VIP desk")
    vip_rule = RoutingRule.objects.create(
        position=5, name="VIP customers", customer_tag="vip", channel=vip_channel
    )
    customer = CustomerFactory()
    signed_in = client_for("global_admin")
    body = {"severity": "critical", "support_topic": topic.pk, "customer": str(customer.tenant_id)}
    data = post(signed_in, ROUTING_TEST_URL, body).json()
    assert data["category"] == "technical"
    assert data["channel"] == {"id": channel.pk, "name": "Premier webhook", "kind": "webhook"}
    assert data["rule"] == {"id": rule.pk, "name": rule.name}
    assert data["fallback"] is False
    assert rule.name in data["explanation"]
    verdicts = {row["name"]: row for row in data["rules"]}
    assert verdicts["VIP customers"]["matched"] is False
    assert "vip" in verdicts["VIP customers"]["why"]
    assert verdicts[rule.name]["matched"] is True
    assert [row["position"] for row in data["rules"]] == sorted(
        r["position"] for r in data["rules"]
    )
    # The customer's tag now decides it.
    customer.tags.add(Tag.objects.create(name="vip"))
    data = post(signed_in, ROUTING_TEST_URL, body).json()
    assert data["rule"] == {"id": vip_rule.pk, "name": "VIP customers"}
    # Nothing was opened.
    assert not ServiceRequest.objects.exists()


def test_routing_test_shows_the_fallback_and_no_route(client_for, db):
    topic = make_topic("commercial")
    signed_in = client_for("global_admin")
    body = {"severity": "minimal", "support_topic": topic.pk}
    data = post(signed_in, ROUTING_TEST_URL, body).json()
    assert data["fallback"] is True
    assert data["rule"] is None
    assert data["channel"]["kind"] == "manual"  # the seeded commercial channel
    Channel.objects.update(enabled=False)
    data = post(signed_in, ROUTING_TEST_URL, body).json()
    assert data["channel"] is None
    assert data["fallback"] is False
    response = post(signed_in, ROUTING_TEST_URL, {"severity": "high", "support_topic": 987654})
    assert response.status_code == 400
    assert set(errors(response)) == {"severity", "support_topic"}


# --- query budgets -----------------------------------------------------------------------------


def _add_requests(count, topic, cast):
    incident = Incident.objects.filter(microsoft_id="EX424242").first() or Incident.objects.create(
        microsoft_id="EX424242", classification="incident", status="x", title="x"
    )
    for _n in range(count):
        open_request(
            topic, actor=cast["admin_agent"], assignee=cast["helpdesk_agent"], incident=incident
        )


def test_list_queries_do_not_grow_with_rows(client_for, cast, route, django_assert_max_num_queries):
    signed_in = client_for("helpdesk_agent")
    _add_requests(5, route[0], cast)
    signed_in.get(LIST_URL)  # the session's first request records it
    with CaptureQueriesContext(connection) as few:
        response = signed_in.get(LIST_URL)
    assert len(response.json()["results"]) == 5
    _add_requests(35, route[0], cast)
    with django_assert_max_num_queries(len(few)):
        response = signed_in.get(LIST_URL)
    results = response.json()["results"]
    assert len(results) == 40
    assert all(row["delivery"]["state"] == "pending" for row in results)
    assert all(row["assignee"] == "helpdesk-agent@partner.example" for row in results)
    assert len(few) <= 10


def test_list_with_a_token_has_the_same_budget(
    api_token_for, cast, route, django_assert_max_num_queries
):
    token = api_token_for(Role.HELPDESK_AGENT, scopes=["read"])
    _add_requests(5, route[0], cast)
    Client().get(LIST_URL, **bearer(token))  # records last_used_at once
    with CaptureQueriesContext(connection) as few:
        Client().get(LIST_URL, **bearer(token))
    _add_requests(35, route[0], cast)
    with django_assert_max_num_queries(len(few)):
        response = Client().get(LIST_URL, **bearer(token))
    assert len(response.json()["results"]) == 40


def test_admin_lists_have_a_flat_budget(client_for, route, django_assert_max_num_queries):
    topic, channel, _rule = route
    signed_in = client_for("global_admin")
    signed_in.get(RULES_URL)
    budgets = {}
    for url in (RULES_URL, CHANNELS_URL, TOPICS_URL):
        with CaptureQueriesContext(connection) as few:
            signed_in.get(url)
        budgets[url] = len(few)
    for n in range(20):
        other = make_channel()
        RoutingRule.objects.create(
            position=20 + n, name=f"r{n}", channel=other, support_topic=topic
        )
        make_topic()
    for url, budget in budgets.items():
        with django_assert_max_num_queries(budget):
            assert signed_in.get(url).status_code == 200


# --- the schema --------------------------------------------------------------------------------


def test_schema_documents_the_endpoints(client_for):
    response = client_for("helpdesk_agent").get(reverse("api-v1:schema"))
    assert response.status_code == 200
    body = response.content.decode()
    for path in (
        "/api/v1/service-requests/",
        "/api/v1/service-requests/{number}/",
        "/api/v1/service-requests/{number}/notes/",
        "/api/v1/service-requests/{number}/timeline/",
        "/api/v1/support-topics/",
        "/api/v1/channels/{id}/",
        "/api/v1/routing-rules/test/",
    ):
        assert path in body
    assert "Idempotency-Key" in body
    assert "modified_since" in body


def test_a_user_without_a_role_sees_none_of_it(client_for, route):
    service_request = open_request(route[0])
    signed_in = client_for("no_role")
    for url in (LIST_URL, detail_url(service_request), TOPICS_URL, CHANNELS_URL, RULES_URL):
        assert signed_in.get(url).status_code == 404
