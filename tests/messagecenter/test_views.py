"""The Message center pages and API: what each role sees, the filters, the customer's section."""

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from messagecenter.models import MessageFeed, MessageRecipient, ServiceMessage
from servicehealth.models import FeedSource
from tests.customers.factories import CustomerFactory

NUMBERS = itertools.count(100)


def message(customers=(), **fields):
    fields.setdefault("microsoft_id", f"MC{next(NUMBERS):06d}")
    fields.setdefault("title", "Microsoft Teams: a new meeting recap")
    fields.setdefault("category", "stayInformed")
    fields.setdefault("severity", "normal")
    fields.setdefault("services", ["Microsoft Teams"])
    fields.setdefault("last_modified_at", timezone.now())
    created = ServiceMessage.objects.create(**fields)
    for customer in customers:
        MessageRecipient.objects.create(message=created, customer=customer)
    return created


@pytest.fixture
def scene(db):
    contoso, fabrikam = (
        CustomerFactory(company_name="Contoso"),
        CustomerFactory(company_name="Fabrikam"),
    )
    retirement = message(
        [contoso, fabrikam],
        microsoft_id="MC000001",
        title="Exchange Online: retiring basic authentication",
        category="planForChange",
        severity="high",
        services=["Exchange Online", "Microsoft 365 suite"],
        is_major_change=True,
        action_required_by=datetime(2026, 3, 1, tzinfo=UTC),
        body="<p>Move to <b>modern auth</b>.</p><script>alert('x')</script>",
    )
    recap = message([contoso], microsoft_id="MC000002", category="someFutureCategory")
    return {"contoso": contoso, "fabrikam": fabrikam, "retirement": retirement, "recap": recap}


def listed(response):
    return [m.microsoft_id for m in response.context["page"]]


@pytest.mark.parametrize(
    "principal, status",
    [
        ("global_admin", 200),
        ("admin_agent", 200),
        ("helpdesk_agent", 200),
        ("user_management_admin", 404),
        ("no_role", 404),
    ],
)
def test_who_sees_the_message_center(principal, status, scene, client_for):
    client = client_for(principal)
    assert client.get(reverse("messagecenter:list")).status_code == status
    detail = reverse("messagecenter:detail", kwargs={"microsoft_id": "MC000001"})
    assert client.get(detail).status_code == status
    api = client.get("/api/v1/messages/")
    assert api.status_code == status


def test_the_list_shows_how_many_customers_each_message_reaches(scene, client_for):
    response = client_for("helpdesk_agent").get(reverse("messagecenter:list"))
    counts = {m.microsoft_id: m.recipient_count for m in response.context["page"]}
    assert counts == {"MC000001": 2, "MC000002": 1}
    # A value Microsoft added later is a choice of its own, shown as sent.
    assert ("someFutureCategory", "someFutureCategory") in response.context["categories"]
    assert response.context["services"] == [
        "Exchange Online",
        "Microsoft 365 suite",
        "Microsoft Teams",
    ]


@pytest.mark.parametrize(
    "query, expected",
    [
        ({"category": "planForChange"}, ["MC000001"]),
        ({"severity": "high"}, ["MC000001"]),
        ({"service": "Microsoft 365 suite"}, ["MC000001"]),
        ({"service": "microsoft teams"}, ["MC000002"]),
        ({"service": "Microsoft"}, []),  # a whole service name, not a part of one
        ({"major_change": "true"}, ["MC000001"]),
        ({"major_change": "false"}, ["MC000002"]),
        ({"act_by_before": "2026-03-02"}, ["MC000001"]),
        ({"act_by_before": "2026-03-01"}, []),
        ({"q": "basic auth"}, ["MC000001"]),
        ({"q": "MC000002"}, ["MC000002"]),
    ],
)
def test_the_list_filters(query, expected, scene, client_for):
    response = client_for("helpdesk_agent").get(reverse("messagecenter:list"), query)
    assert sorted(listed(response)) == expected


def test_filtering_by_customer_keeps_the_full_reach_count(scene, client_for):
    fabrikam = scene["fabrikam"]
    response = client_for("helpdesk_agent").get(
        reverse("messagecenter:list"), {"customer": str(fabrikam.tenant_id)}
    )
    assert [(m.microsoft_id, m.recipient_count) for m in response.context["page"]] == [
        ("MC000001", 2)
    ]
    assert response.context["customer"] == fabrikam


def test_the_detail_lists_the_customers_and_shows_microsofts_html_as_text(scene, client_for):
    url = reverse("messagecenter:detail", kwargs={"microsoft_id": "MC000001"})
    response = client_for("admin_agent").get(url)
    html = response.content.decode()
    assert [r.customer.company_name for r in response.context["recipients"]] == [
        "Contoso",
        "Fabrikam",
    ]
    assert "Move to modern auth." in html
    assert "<b>modern auth</b>" not in html and "alert(" not in html
    assert "<script>alert" not in html


def test_a_tenant_that_refuses_is_shown_on_the_list_and_the_customer(scene, client_for):
    contoso = scene["contoso"]
    source = FeedSource(
        name="Contoso feed", customer=contoso, tenant_id=contoso.tenant_id, client_id="app"
    )
    source.client_secret = "feed-secret"
    source.save()
    MessageFeed.objects.create(
        source=source,
        consecutive_failures=1,
        needs_attention=True,
        last_error="No access: needs the Message Center Reader role.",
        last_error_at=timezone.now(),
    )
    client = client_for("helpdesk_agent")
    listing = client.get(reverse("messagecenter:list")).content.decode()
    assert "Reading Contoso's Message center is failing." in listing
    assert "needs the Message Center Reader role" in listing
    page = client.get(f"{contoso.get_absolute_url()}?tab=incidents")
    html = page.content.decode()
    assert "needs the Message Center Reader role" in html
    assert 'data-testid="customer-messages"' in html
    assert "MC000001" in html and "MC000002" in html


def test_the_customer_section_lists_only_its_messages(scene, client_for):
    fabrikam = scene["fabrikam"]
    html = (
        client_for("helpdesk_agent")
        .get(f"{fabrikam.get_absolute_url()}?tab=incidents")
        .content.decode()
    )
    assert "MC000001" in html and "MC000002" not in html


def test_the_list_costs_the_same_queries_for_many_messages(db, client_for, list_budget):
    client = client_for("helpdesk_agent")
    customers = [CustomerFactory() for _ in range(3)]

    def add_rows(count):
        for _ in range(count):
            message(customers)

    first, last, _queries = list_budget(lambda: client.get(reverse("messagecenter:list")), add_rows)
    assert len(first.context["page"]) == 5 and len(last.context["page"]) == 40


def test_the_navigation_links_the_message_center(client_for):
    response = client_for("helpdesk_agent").get(reverse("accounts:profile"))
    assert reverse("messagecenter:list") in {i["url"] for i in response.context["navigation"]}


# --- the API -----------------------------------------------------------------------------------


def test_the_api_lists_messages_with_their_customers(scene, client_for):
    response = client_for("helpdesk_agent").get("/api/v1/messages/", {"category": "planForChange"})
    assert response.status_code == 200
    (item,) = response.json()["results"]
    assert item["microsoft_id"] == "MC000001"
    assert item["customer_count"] == 2
    assert [c["company_name"] for c in item["customers"]] == ["Contoso", "Fabrikam"]
    assert item["services"] == ["Exchange Online", "Microsoft 365 suite"]
    assert item["is_major_change"] is True
    assert item["action_required_by"] == "2026-03-01T00:00:00Z"
    assert item["url"].endswith("/api/v1/messages/MC000001/")
    detail = client_for("helpdesk_agent").get(item["url"])
    assert detail.json()["body"].startswith("<p>Move to")


def test_the_api_syncs_incrementally_with_a_cursor(scene, client_for, settings):
    settings.API_SYNC_SETTLE_SECONDS = 0
    client = client_for("helpdesk_agent")
    first = client.get("/api/v1/messages/", {"page_size": 1})
    assert first.status_code == 200
    page_one = first.json()
    page_two = client.get(page_one["next"]).json()
    seen = [i["microsoft_id"] for i in page_one["results"] + page_two["results"]]
    assert sorted(seen) == ["MC000001", "MC000002"] and page_two["next"] is None
    newest = max(i["modified_at"] for i in page_one["results"] + page_two["results"])
    assert client.get("/api/v1/messages/", {"modified_since": newest}).json()["results"] == []
    # A customer newly reached changes the message for a poller.
    later = timezone.now() + timedelta(seconds=1)
    MessageRecipient.objects.create(message=scene["recap"], customer=scene["fabrikam"])
    ServiceMessage.objects.filter(pk=scene["recap"].pk).update(modified_at=later)
    settings.API_SYNC_SETTLE_SECONDS = -5  # the change is settled at once for this test
    changed = client.get("/api/v1/messages/", {"modified_since": newest}).json()["results"]
    assert [(i["microsoft_id"], i["customer_count"]) for i in changed] == [("MC000002", 2)]


def test_the_api_list_costs_the_same_queries_for_many_messages(db, client_for, list_budget):
    client = client_for("helpdesk_agent")
    customers = [CustomerFactory() for _ in range(3)]

    def add_rows(count):
        for _ in range(count):
            message(customers)

    first, last, _queries = list_budget(
        lambda: client.get("/api/v1/messages/", {"page_size": 100}), add_rows
    )
    assert len(first.json()["results"]) == 5 and len(last.json()["results"]) == 40
