import csv
import io
import uuid
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from core.models import AuditEntry
from customers import imports
from customers.models import Customer, CustomerImport
from tests.customers.factories import CustomerFactory
from tests.helpers import worker_in_thread
from tests.waiting import wait_until

HEADER = "tenant_id,company_name,default_domain,other_domains,country,relationship,tags,contact_name,contact_email\n"


def row(n, **overrides):
    values = {
        "tenant_id": str(uuid.UUID(int=n + 1)),
        "company_name": f"Company {n}",
        "default_domain": f"company{n}.onmicrosoft.com",
        "other_domains": f"company{n}.example",
        "country": "tr",
        "relationship": "indirect_reseller",
        "tags": "vip,smb",
        "contact_name": f"Contact {n}",
        "contact_email": f"it@company{n}.example",
    }
    values.update(overrides)
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(values.values())
    return out.getvalue()


def upload_and_run(actor, text, name="customers.csv"):
    job = imports.create(actor=actor, file_name=name, raw=text.encode())
    return imports.run(job.pk)


def test_a_valid_file_imports_every_row_with_tags_contacts_and_audit(cast):
    job = upload_and_run(cast["admin_agent"], HEADER + "".join(row(n) for n in range(450)))
    assert job.status == "succeeded"
    assert job.imported_count == 450
    assert job.processed_rows == job.total_rows == 450
    customer = Customer.objects.get(default_domain="company7.onmicrosoft.com")
    assert customer.country == "TR"
    assert customer.relationship == "indirect_reseller"
    assert customer.other_domains == ["company7.example"]
    assert sorted(tag.name for tag in customer.tags.all()) == ["smb", "vip"]
    assert customer.contacts.get().email == "it@company7.example"
    assert Customer.objects.search("company7.example").get() == customer
    entries = AuditEntry.objects.filter(action="customer.imported")
    assert entries.count() == 450
    assert entries.first().actor == cast["admin_agent"]


def test_any_invalid_row_imports_nothing_and_names_line_and_column(cast):
    CustomerFactory(default_domain="taken.example")
    text = (
        HEADER
        + row(1)
        + row(2, country="Turkey")
        + row(3, default_domain="not a domain")
        + row(4, tenant_id=str(uuid.UUID(int=2)))  # same tenant as row 1
        + row(5, default_domain="taken.example")
        + "a,b\n"
        + row(6, contact_email="nope")
    )
    job = upload_and_run(cast["admin_agent"], text)
    assert job.status == "failed"
    assert Customer.objects.count() == 1
    found = {(error["line"], error["column"]) for error in job.errors}
    assert {
        (3, "country"),
        (4, "default_domain"),
        (5, "tenant_id"),
        (6, "default_domain"),
        (7, ""),
        (8, "contact_email"),
    } <= found
    assert (2, "country") not in found


def test_semicolons_from_excel_are_understood(cast):
    text = (HEADER + row(1)).replace(",", ";").replace('"vip;smb"', '"vip,smb"')
    job = upload_and_run(cast["admin_agent"], text)
    assert job.status == "succeeded", job.errors
    assert Customer.objects.get().company_name == "Company 1"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"tenant_id,company_name\n", "Missing columns"),
        (b"tenant_id,company_name,default_domain,country,colour\n", "Unknown columns"),
        ("tenant_id,company_name,default_domain,country\n".encode("utf-16"), "not UTF-8"),
        (HEADER.encode(), "no rows"),
    ],
)
def test_a_file_that_cannot_be_read_is_refused_at_upload(raw, message, client_for):
    response = client_for("admin_agent").post(
        reverse("customers:import_upload"),
        {"file": SimpleUploadedFile("customers.csv", raw, content_type="text/csv")},
    )
    assert response.status_code == 200
    assert message in str(response.context["form"].errors["file"])
    assert not CustomerImport.objects.exists()


def test_a_worker_holding_the_lease_keeps_others_out_until_it_runs_out(cast):
    job = imports.create(
        actor=cast["admin_agent"], file_name="a.csv", raw=(HEADER + row(1)).encode()
    )
    assert imports.claim(job.pk) is not None
    assert imports.claim(job.pk) is None
    later = timezone.now() + imports.LEASE + timedelta(seconds=1)
    # The first worker died: after the lease the sweep hands the import to another worker.
    assert job.pk in imports.resume_stalled(now=later)
    retaken = imports.claim(job.pk, now=later)
    assert retaken is not None
    assert retaken.attempts == 2


def test_the_status_endpoint_reports_progress(client_for, cast):
    job = upload_and_run(cast["admin_agent"], HEADER + row(1) + row(2))
    data = client_for("admin_agent").get(reverse("customers:import_status", args=[job.pk])).json()
    assert data == {
        "status": "succeeded",
        "status_label": "Imported",
        "finished": True,
        "percent": 100,
        "processed_rows": 2,
        "total_rows": 2,
        "imported_count": 2,
        "error_count": 0,
    }


def test_helpdesk_agents_cannot_import(client_for):
    response = client_for("helpdesk_agent").post(
        reverse("customers:import_upload"),
        {"file": SimpleUploadedFile("c.csv", (HEADER + row(1)).encode())},
    )
    assert response.status_code == 403
    assert not CustomerImport.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_an_upload_is_imported_by_a_real_worker(client_for, redis_url):
    signed_in = client_for("admin_agent")
    with worker_in_thread("feeds"):
        response = signed_in.post(
            reverse("customers:import_upload"),
            {"file": SimpleUploadedFile("c.csv", (HEADER + row(1) + row(2)).encode())},
        )
        assert response.status_code == 302
        job = CustomerImport.objects.get()

        def finished():
            job.refresh_from_db()
            return job.is_finished

        wait_until(finished, timeout=20, interval=0.2, message="the import never finished")
    assert job.status == "succeeded"
    assert Customer.objects.count() == 2
    page = signed_in.get(response["Location"]).content.decode()
    assert "2 customers imported" in page
