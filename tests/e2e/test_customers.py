"""In a real browser: customers list and detail, and a CSV import followed to its end."""

import csv
import io
import re
import uuid

import pytest
from playwright.sync_api import expect

from customers.models import Customer
from tests.customers.factories import CustomerFactory, RelationshipFactory
from tests.helpers import worker_in_thread

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_an_agent_finds_a_customer_and_opens_its_access(page, live_server, cast, sign_in):
    from datetime import timedelta

    RelationshipFactory(customer__company_name="Fabrikam Lojistik", ends_in=timedelta(days=3))
    CustomerFactory(company_name="Contoso")
    sign_in(page, cast["helpdesk_agent"])
    page.get_by_role("link", name="Customers", exact=True).click()
    page.fill("input[name=q]", "fabrikam")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_test_id("customer-table")).to_contain_text("Fabrikam Lojistik")
    expect(page.get_by_test_id("customer-table")).not_to_contain_text("Contoso")
    page.get_by_role("link", name="Fabrikam Lojistik").click()
    expect(page.locator(".message.warning")).to_contain_text("Delegated admin access ends in")
    page.get_by_role("link", name="Delegated access").click()
    expect(page.locator(".relationship")).to_contain_text("Service Support Administrator")
    # A helpdesk agent sees no edit controls.
    expect(page.get_by_role("link", name="Edit")).to_have_count(0)


def test_an_import_shows_its_progress_and_errors_then_succeeds(
    page, live_server, cast, sign_in, redis_url, tmp_path
):
    rows = [["tenant_id", "company_name", "default_domain", "country"]]
    rows += [[str(uuid.uuid4()), f"Bulk {n}", f"bulk{n}.example", "TR"] for n in range(600)]
    bad = [row[:] for row in rows]
    bad[42][3] = "Turkey"
    for name, data in (("bad.csv", bad), ("good.csv", rows)):
        out = io.StringIO()
        csv.writer(out).writerows(data)
        (tmp_path / name).write_text(out.getvalue())

    sign_in(page, cast["admin_agent"])
    with worker_in_thread("feeds"):
        page.goto(f"{live_server.url}/customers/import/")
        page.set_input_files("input[name=file]", str(tmp_path / "bad.csv"))
        page.get_by_role("button", name="Upload and check").click()
        expect(page).to_have_url(re.compile(r"/customers/import/\d+/$"))
        expect(page.get_by_test_id("import-errors")).to_contain_text("country", timeout=20000)
        expect(page.get_by_test_id("import-errors")).to_contain_text("43")
        assert Customer.objects.count() == 0

        page.get_by_role("link", name="Upload a corrected file").click()
        page.set_input_files("input[name=file]", str(tmp_path / "good.csv"))
        page.get_by_role("button", name="Upload and check").click()
        expect(page.locator(".message.success")).to_contain_text(
            "600 customers imported", timeout=20000
        )
    assert Customer.objects.count() == 600
