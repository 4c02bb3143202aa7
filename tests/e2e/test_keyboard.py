"""With the keyboard only: from a customer's page to an opened service request, and the skip link,
the "More" menu, the sort links and a wide table's scroll region on the way."""

import re

import pytest
from playwright.sync_api import expect

from accounts.models import User
from customers.models import Customer
from demo import data as demo_data
from servicerequests.models import ServiceRequest
from tests.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# More Tab presses than any page here has stops before what a test looks for.
MOST_TAB_STOPS = 120


def tab_to(page, selector):
    """Presses Tab until the element matching ``selector`` has the focus; fails if it never does."""
    for _ in range(MOST_TAB_STOPS):
        page.keyboard.press("Tab")
        if page.evaluate("(selector) => document.activeElement.matches(selector)", selector):
            return page.locator(":focus")
    pytest.fail(f"Tab never reached {selector} on {page.url}")


@pytest.fixture
def helpdesk_agent(page, demo_portal, sign_in):
    sign_in(
        page,
        User.objects.get(email="helpdesk@example.com"),
        password=demo_data.DEMO_PASSWORD,
    )
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    return demo_portal


def test_an_agent_opens_a_service_request_from_the_customer_page_by_keyboard(page, helpdesk_agent):
    customer = Customer.objects.order_by("company_name").first()
    page.goto(f"{helpdesk_agent.url}{customer.get_absolute_url()}")

    # The first Tab stop is the skip link; it moves the focus to the page's content.
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_attribute("href", "#main")
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()

    tab_to(page, "nav.tabs a[href='?tab=requests']")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"\?tab=requests$"))
    tab_to(page, "a[href*='/service-requests/new/']")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("New service request")
    expect(page.locator("select[name=customer]")).to_have_value(str(customer.tenant_id))

    tab_to(page, "select[name=support_topic]")
    page.keyboard.press("ArrowDown")
    expect(page.locator("select[name=support_topic]")).not_to_have_value("")
    tab_to(page, "input[name=title]")
    page.keyboard.type("Outlook cannot send mail")
    tab_to(page, "textarea[name=description]")
    page.keyboard.type("Since this morning every user gets error 0x800CCC0E when sending.")
    tab_to(page, "input[name=contact_name]")
    page.keyboard.type("Ayşe Kaya")
    tab_to(page, "input[name=contact_email]")
    page.keyboard.type("ayse@customer.example")
    tab_to(page, "button[type=submit]:not([name])")
    page.keyboard.press("Enter")

    expect(page).to_have_url(re.compile(r"/service-requests/SR-\d+/$"))
    expect(page.locator(".messages")).to_contain_text("is opened")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Outlook cannot send mail")
    assert ServiceRequest.objects.filter(
        customer=customer, title="Outlook cannot send mail"
    ).exists()


def test_the_more_menu_and_the_sort_links_work_by_keyboard(page, helpdesk_agent):
    page.goto(f"{helpdesk_agent.url}/customers/")
    company = page.locator("thead th").first
    expect(company).to_have_attribute("aria-sort", "ascending")  # by name, the default order
    tab_to(page, "thead th:first-child a")
    page.keyboard.press("Enter")
    expect(company).to_have_attribute("aria-sort", "descending")
    expect(page.locator("thead th[aria-sort]")).to_have_count(1)

    tab_to(page, "summary")
    page.keyboard.press("Enter")
    expect(page.locator("details.nav-more")).to_have_attribute("open", "")
    tab_to(page, "details.nav-more a[href='/events/']")
    page.keyboard.press("Escape")
    expect(page.locator("details.nav-more[open]")).to_have_count(0)


def test_a_wide_table_is_a_named_region_reached_by_tab(page, helpdesk_agent):
    page.set_viewport_size({"width": 320, "height": 640})
    page.goto(f"{helpdesk_agent.url}/customers/")
    region = tab_to(page, ".table-wrap")
    expect(region).to_have_attribute("role", "region")
    expect(region).to_have_attribute("aria-label", "Customers")
    page.keyboard.press("ArrowRight")
    wait_until(
        lambda: region.evaluate("(box) => box.scrollLeft > 0"),
        timeout=5,
        message="the arrow key did not scroll the table",
    )
