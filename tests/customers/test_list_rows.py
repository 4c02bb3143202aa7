"""The customer list's rows (rendered in Python by customers/listing.py) and its query budget."""

from datetime import timedelta

import pytest
from django.core.cache import caches
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.html import escape
from django.utils.timesince import timeuntil
from django.utils.translation import gettext

from customers import gdap
from customers.models import Customer, Tag
from servicehealth.models import AccessProblem
from tests.customers.factories import CustomerFactory, RelationshipFactory
from tests.helpers import query_counter
from tests.servicehealth.factories import FeedSourceFactory


def row_of(html, customer):
    """The <tr> that links to ``customer``."""
    start = html.rindex("<tr>", 0, html.index(f'href="{customer.get_absolute_url()}"'))
    return html[start : html.index("</tr>", start) + len("</tr>")]


def listing(client, **params):
    response = client.get(reverse("customers:list"), params)
    assert response.status_code == 200
    return response.content.decode()


def test_a_row_shows_the_customer_escaped(client_for, cast):
    removed_at = timezone.now() - timedelta(days=2)
    customer = CustomerFactory(
        company_name="Fabrikam <b>& Co</b>",
        removed_from_partner_center_at=removed_at,
        default_domain="",  # the initial domain stands in
        initial_domain="fabrikam.onmicrosoft.com",
        country="TR",
        relationship="direct",
    )
    customer.tags.create(name="zulu")
    customer.tags.create(name="alpha")
    bare = CustomerFactory(company_name="Bare Ltd", default_domain="")

    html = listing(client_for("helpdesk_agent"))

    stamp = timezone.localtime(removed_at).strftime("%Y-%m-%d %H:%M")
    assert row_of(html, customer) == (
        f'<tr><td><a href="{customer.get_absolute_url()}">Fabrikam &lt;b&gt;&amp; Co&lt;/b&gt;</a>'
        f' <span class="badge warning" title="{stamp}">Removed from Partner Center</span></td>'
        "<td>fabrikam.onmicrosoft.com</td><td>TR</td><td>Direct (Microsoft bills)</td>"
        '<td><a class="badge" href="?tag=alpha">alpha</a> <a class="badge" href="?tag=zulu">zulu</a> '
        '</td><td><span class="badge">None</span></td></tr>'
    )
    assert "<td>—</td><td>GB</td><td>Reseller (direct bill)</td><td></td>" in row_of(html, bare)


def test_the_access_badge_follows_the_delegated_access(client_for, cast):
    active = RelationshipFactory().customer
    expiring = RelationshipFactory(ends_in=timedelta(days=10, hours=1)).customer
    expired = RelationshipFactory(
        status=gdap.RelationshipStatusChoices.EXPIRED, ends_in=timedelta(days=-3)
    ).customer
    none = CustomerFactory()

    html = listing(client_for("helpdesk_agent"))

    assert '<span class="badge ok">Active</span>' in row_of(html, active)
    until = timezone.localtime(expiring.gdap_access_until).strftime("%Y-%m-%d %H:%M")
    assert f'<span class="badge warning" title="{until}">Ends in 1\xa0week, 3\xa0days</span>' in (
        row_of(html, expiring)
    )
    assert '<span class="badge danger">No delegated access</span>' in row_of(html, expired)
    assert '<span class="badge">None</span>' in row_of(html, none)


def test_labels_are_translated(client_for, cast):
    customer = RelationshipFactory(customer__relationship="direct").customer
    agent = client_for("helpdesk_agent")

    html = agent.get(reverse("customers:list"), HTTP_ACCEPT_LANGUAGE="tr").content.decode()

    with translation.override("tr"):
        active, direct = gettext("Active"), gettext("Direct (Microsoft bills)")
    assert active != "Active" and direct != "Direct (Microsoft bills)"
    row = row_of(html, customer)
    assert f'<span class="badge ok">{active}</span>' in row
    assert f"<td>{direct}</td>" in row


def test_the_time_left_reads_as_django_says_it_in_each_language(client_for, cast):
    """The rows translate timesince()'s units once per page: the words are Django's own."""
    customer = RelationshipFactory(ends_in=timedelta(days=29, hours=20)).customer
    agent = client_for("helpdesk_agent")
    for language in ("en", "tr"):
        html = agent.get(reverse("customers:list"), HTTP_ACCEPT_LANGUAGE=language)
        with translation.override(language):
            left = timeuntil(customer.gdap_access_until)
            expected = escape(gettext("Ends in %(left)s") % {"left": left})
        assert f">{expected}</span>" in row_of(html.content.decode(), customer)


def test_feed_badges_show_for_enabled_sources_refused_or_failing(client_for, cast):
    refused = FeedSourceFactory(access_problem=AccessProblem.NEEDS_CONSENT).customer
    failing = FeedSourceFactory(consecutive_failures=2, last_error="timed out").customer
    disabled = FeedSourceFactory(
        enabled=False, access_problem=AccessProblem.NEEDS_ROLE, consecutive_failures=4
    ).customer
    healthy = FeedSourceFactory().customer

    html = listing(client_for("helpdesk_agent"))

    assert 'data-testid="feed-access-problem"' in row_of(html, refused)
    assert "Needs consent" in row_of(html, refused)
    assert '<span class="badge warning" title="timed out">Health feed failing</span>' in (
        row_of(html, failing)
    )
    for quiet in (disabled, healthy):
        row = row_of(html, quiet)
        assert "feed-access-problem" not in row and "Health feed failing" not in row


def test_the_list_page_reads_the_database_a_fixed_number_of_times(client_for, cast):
    """Session, user, the count, the page of customers, the tags (filter choices and the listed
    customers' in one), the sync state; one more for the feed sources when a row has a feed
    badge. Not one more per row. The user's permissions come from the cache (accounts.
    permission_cache), once the tombstones of the roles just given have expired."""
    for n in range(60):
        customer = RelationshipFactory(ends_in=timedelta(days=5 + n)).customer
        customer.tags.create(name=f"tag-{n}")
    caches["api_tokens"].clear()  # a minute on: the roles' tombstones are gone
    count_queries = query_counter(client_for("helpdesk_agent"), reverse("customers:list"))

    queries, response = count_queries()
    assert len(response.context["page"].object_list) == 50
    assert queries == 6

    listed = response.context["page"].object_list
    for customer in listed[:3]:
        FeedSourceFactory(customer=customer, consecutive_failures=1, last_error="down")
    for customer in listed[3:6]:
        FeedSourceFactory(customer=customer)
    queries, response = count_queries()
    assert queries == 7
    assert response.content.decode().count("Health feed failing") == 3


def test_feed_badges_show_on_a_later_filtered_page_too(client_for, cast):
    """The badge's check reads the same on a page whose rows are found by their keys first, and
    beside a filter's joins."""
    vip = Tag.objects.create(name="vip")
    for n in range(55):
        CustomerFactory(company_name=f"Customer {n:02d}").tags.add(vip)
    last, quiet = Customer.objects.order_by("-company_name")[:2]
    FeedSourceFactory(customer=last, consecutive_failures=3, last_error="down")
    FeedSourceFactory(customer=quiet)

    html = listing(client_for("helpdesk_agent"), tag="vip", page=2)

    assert "Health feed failing" in row_of(html, last)
    assert "Health feed failing" not in row_of(html, quiet)
    assert html.count("Health feed failing") == 1


@pytest.mark.parametrize(
    "params",
    [{}, {"page": 2}, {"q": "customer"}, {"gdap_state": "expiring"}, {"tag": "tag-1"}],
    ids=["first page", "second page", "search", "expiring", "tag"],
)
def test_each_kind_of_list_page_keeps_to_its_query_budget(
    client_for, cast, django_assert_max_num_queries, params
):
    """What the benchmark requests (bench/customers.py), at most 7 queries each: the six above,
    and the tag filter's own look-up of its tag."""
    for n in range(110):
        customer = RelationshipFactory(ends_in=timedelta(days=1 + n % 40)).customer
        customer.tags.add(Tag.objects.get_or_create(name=f"tag-{n % 3}")[0])
    caches["api_tokens"].clear()
    agent = client_for("helpdesk_agent")
    agent.get(reverse("customers:list"))  # the session's first request records it
    with django_assert_max_num_queries(7):
        response = agent.get(reverse("customers:list"), params)
    assert response.status_code == 200
    assert len(response.context["page"].object_list) > 0


def test_a_first_page_with_room_to_spare_is_its_own_count(client_for, cast):
    """A first page holding fewer rows than a page can has every row: the page shows their
    number without a COUNT(*), one query fewer. A full first page, and any other page, are
    counted as before."""
    for n in range(55):
        CustomerFactory(company_name=f"Northwind {n:02d}" if n < 3 else f"Contoso {n:02d}")
    caches["api_tokens"].clear()
    agent = client_for("helpdesk_agent")
    url = reverse("customers:list")
    total = Customer.objects.count()
    assert total > 50

    for query, shown, queries in [
        ("?q=northwind", 3, 5),
        ("?q=nobody", 0, 5),
        ("", total, 6),
        ("?page=2", total, 6),
        ("?q=contoso&page=2", total - 3, 6),
    ]:
        count_queries = query_counter(agent, url + query)
        assert count_queries()[0] == queries, query
        response = count_queries()[1]
        assert response.context["page"].paginator.count == shown, query
        assert f'<p class="muted">{shown} customers</p>' in response.content.decode(), query


@pytest.mark.parametrize("sort", ["name", "-name", "country", "-access_until"])
def test_a_later_page_holds_the_rows_an_offset_gives(client_for, cast, sort):
    """A later page reads its customers' keys first and then the rows (customers.views._page_of):
    the same customers, in the same order, as reading the ordered rows at the page's offset,
    filtered or not; the last page is short, and a page past the end shows the last."""
    for n in range(120):
        RelationshipFactory(
            customer__company_name=f"Customer {n % 7:02d}",  # ties: the pk orders them
            customer__country=("TR", "DE", "GB")[n % 3],
            ends_in=timedelta(days=1 + n % 90),
        )
    agent = client_for("helpdesk_agent")
    orderings = {
        "name": ("company_name", "pk"),
        "-name": ("-company_name", "-pk"),
        "country": ("country", "company_name", "pk"),
        "-access_until": ("-gdap_access_until", "company_name", "pk"),
    }
    ordered = Customer.objects.order_by(*orderings[sort])
    for params, customers, offset in [
        ({"page": 2}, ordered, 50),
        ({"page": 3}, ordered, 100),
        ({"page": 99}, ordered, 100),
        ({"page": 2, "gdap_state": "expiring"}, ordered.with_gdap_state("expiring"), 50),
    ]:
        response = agent.get(reverse("customers:list"), {**params, "sort": sort})
        listed = [customer.pk for customer in response.context["page"].object_list]
        expected = list(customers.values_list("pk", flat=True)[offset : offset + 50])
        assert expected and listed == expected, params


def test_the_filter_form_shows_every_filter_whichever_are_given(client_for, cast):
    """The list builds only the filters the query string gives (customers.views.
    _filtered_customers); its form still offers every filter's choices and shows the values
    given, and a wrong value's error."""
    CustomerFactory().tags.create(name="vip")
    agent = client_for("helpdesk_agent")

    html = listing(agent, tag="vip", q="<contoso>")
    assert 'value="&lt;contoso&gt;"' in html
    assert '<option value="vip" selected>vip</option>' in html
    assert '<option value="reseller">Reseller (direct bill)</option>' in html
    assert '<option value="expiring">' in html

    html = listing(agent, gdap_state="expiring", relationship="direct")
    assert '<option value="expiring" selected>' in html
    assert '<option value="direct" selected>Direct (Microsoft bills)</option>' in html
    assert '<option value="vip">vip</option>' in html
    assert 'role="alert"' not in html

    html = listing(agent, gdap_state="bogus")
    assert '<div class="form-errors" role="alert">' in html and "bogus" in html


def test_a_filter_error_names_the_filter_by_its_label_in_the_language_shown(client_for, cast):
    agent = client_for("helpdesk_agent")
    url = reverse("customers:list")

    html = agent.get(url, {"gdap_state": "bogus"}).content.decode()
    alert = html.split('<div class="form-errors" role="alert">')[1].split("</div>")[0]
    assert "<li>Delegated access: Select a valid choice. bogus is not" in alert
    assert "gdap_state" not in alert  # the query parameter is not what a person reads

    html = agent.get(url, {"gdap_state": "bogus"}, HTTP_ACCEPT_LANGUAGE="tr").content.decode()
    alert = html.split('<div class="form-errors" role="alert">')[1].split("</div>")[0]
    assert "<li>Temsilci erişimi: " in alert and "bogus" in alert
