"""Customer CSV import: every row checked, errors by line and column, all or nothing.

``run(import_id)`` is what the Celery task calls. It claims the import with a lease, checks
every row (writing progress as it goes), and imports everything in one transaction only when
no row has an error. A worker that dies mid-way leaves the import to the sweep, which gives it
to another worker; nothing is half written because the import itself is one transaction.
"""

import csv
import io
import logging
from datetime import timedelta

from django import forms
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from core import broker
from customers import services
from customers.models import (
    CUSTOMER_COLUMNS,
    ContactRoleChoices,
    Customer,
    CustomerImport,
    CustomerImportStatusChoices,
    CustomerRelationshipChoices,
    validate_domain,
)

logger = logging.getLogger(__name__)
# The task that runs ``run`` (customers.tasks); queued by name: tasks imports this module.
RUN_TASK = "customers.tasks.run_customer_import"

Status = CustomerImportStatusChoices
COLUMNS = [
    *CUSTOMER_COLUMNS,
    "notes",
    "contact_name",
    "contact_email",
    "contact_phone",
    "contact_role",
]
REQUIRED_COLUMNS = {"tenant_id", "company_name", "default_domain", "country"}
MAX_ERRORS = 500
PROGRESS_EVERY = 200
LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 3
EXAMPLE_ROW = {
    "tenant_id": "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
    "company_name": "Northwind Traders",
    "default_domain": "northwindtraders.onmicrosoft.com",
    "other_domains": "northwind.example northwind.com.tr",
    "country": "TR",
    "relationship": "reseller",
    "tags": "vip,24x7",
    "notes": "",
    "contact_name": "Mert Aydın",
    "contact_email": "mert@northwind.example",
    "contact_phone": "+90 212 555 01 01",
    "contact_role": "primary",
}


class ImportRowForm(forms.Form):
    """One CSV row; field names are the column names, so errors name the column."""

    tenant_id = forms.UUIDField()
    company_name = forms.CharField(max_length=200)
    default_domain = forms.CharField(max_length=253)
    other_domains = forms.CharField(required=False)
    country = forms.CharField()
    relationship = forms.ChoiceField(choices=CustomerRelationshipChoices.choices, required=False)
    tags = forms.CharField(required=False)
    notes = forms.CharField(required=False)
    contact_name = forms.CharField(max_length=150, required=False)
    contact_email = forms.EmailField(required=False)
    contact_phone = forms.CharField(max_length=40, required=False)
    contact_role = forms.ChoiceField(choices=ContactRoleChoices.choices, required=False)

    def clean_default_domain(self):
        domain = self.cleaned_data["default_domain"].strip().lower()
        validate_domain(domain)
        return domain

    def clean_other_domains(self):
        domains = sorted(
            {
                d.strip().lower()
                for d in self.cleaned_data["other_domains"].replace(",", " ").split()
            }
        )
        for domain in domains:
            validate_domain(domain)
        return domains

    def clean_country(self):
        country = self.cleaned_data["country"].strip().upper()
        if len(country) != 2 or not country.isalpha():
            raise forms.ValidationError(_("Use the two-letter ISO 3166 country code."))
        return country

    def clean_tags(self):
        return sorted(
            {t.strip().lower() for t in self.cleaned_data["tags"].split(",") if t.strip()}
        )

    def clean(self):
        cleaned = super().clean()
        has_contact = any(cleaned.get(f) for f in ("contact_email", "contact_phone"))
        if has_contact and not cleaned.get("contact_name"):
            self.add_error("contact_name", _("A contact needs a name."))
        return cleaned

    def customer_fields(self):
        data = self.cleaned_data
        contacts = []
        if data.get("contact_name"):
            contacts.append(
                {
                    "name": data["contact_name"],
                    "email": data.get("contact_email", ""),
                    "phone": data.get("contact_phone", ""),
                    "role": data.get("contact_role") or ContactRoleChoices.PRIMARY,
                }
            )
        return {
            "tenant_id": data["tenant_id"],
            "company_name": data["company_name"].strip(),
            "default_domain": data["default_domain"],
            "other_domains": data["other_domains"],
            "country": data["country"],
            "relationship": data.get("relationship") or CustomerRelationshipChoices.RESELLER,
            "notes": data.get("notes", ""),
            "tags": data["tags"],
            "contacts": contacts,
        }


class ImportFileError(Exception):
    """The file as a whole cannot be read (encoding, header)."""


def read_rows(text):
    """``(header, [(line_number, {column: value})])``; accepts comma or semicolon (Excel)."""
    sample = text[:4096]
    try:
        dialect = csv.Sniffer().sniff(sample.splitlines()[0] if sample else "", delimiters=",;")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    try:
        header = [column.strip().lower() for column in next(reader)]
    except StopIteration:
        raise ImportFileError(_("The file is empty.")) from None
    unknown = [column for column in header if column not in COLUMNS]
    if unknown:
        raise ImportFileError(
            _("Unknown columns: %(columns)s. Allowed: %(allowed)s.")
            % {"columns": ", ".join(unknown), "allowed": ", ".join(COLUMNS)}
        )
    missing = sorted(REQUIRED_COLUMNS - set(header))
    if missing:
        raise ImportFileError(_("Missing columns: %(columns)s.") % {"columns": ", ".join(missing)})
    rows = []
    for values in reader:
        if not any(value.strip() for value in values):
            continue  # blank lines are not rows
        line = reader.line_num
        if len(values) != len(header):
            rows.append((line, None))
            continue
        rows.append((line, dict(zip(header, values, strict=True))))
    return header, rows


def decode(raw):
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportFileError(_('The file is not UTF-8 text: save it as "CSV UTF-8".')) from None


def check_rows(rows, progress=None):
    """Validate every row. Returns ``(customers, errors)``; errors name line and column."""
    errors = []
    customers = []
    seen = {"tenant_id": {}, "domain": {}}
    for index, (line, values) in enumerate(rows, start=1):
        if values is None:
            errors.append(
                {
                    "line": line,
                    "column": "",
                    "message": _("This row has a different number of columns than the header."),
                }
            )
            continue
        form = ImportRowForm(values)
        if not form.is_valid():
            for column, messages in form.errors.items():
                for message in messages:
                    errors.append({"line": line, "column": column, "message": message})
        else:
            fields = form.customer_fields()
            _check_duplicates_in_file(fields, line, seen, errors)
            customers.append((line, fields))
        if progress and index % PROGRESS_EVERY == 0:
            progress(index)
    _check_duplicates_in_database(customers, errors)
    errors.sort(key=lambda error: (error["line"], error["column"]))
    return [fields for _line, fields in customers], errors


def _check_duplicates_in_file(fields, line, seen, errors):
    tenant = str(fields["tenant_id"])
    if tenant in seen["tenant_id"]:
        errors.append(
            {
                "line": line,
                "column": "tenant_id",
                "message": _("The same tenant id is on line %(line)s.")
                % {"line": seen["tenant_id"][tenant]},
            }
        )
    seen["tenant_id"].setdefault(tenant, line)
    for column, domains in (
        ("default_domain", [fields["default_domain"]]),
        ("other_domains", fields["other_domains"]),
    ):
        for domain in domains:
            if domain in seen["domain"]:
                errors.append(
                    {
                        "line": line,
                        "column": column,
                        "message": _("%(domain)s is also on line %(line)s.")
                        % {"domain": domain, "line": seen["domain"][domain]},
                    }
                )
            seen["domain"].setdefault(domain, line)


def _check_duplicates_in_database(customers, errors):
    tenant_ids = [fields["tenant_id"] for _line, fields in customers]
    default_domains = [fields["default_domain"] for _line, fields in customers]
    existing_tenants, existing_domains = set(), set()
    for start in range(0, len(customers), 1000):
        existing = Customer.objects.filter(
            Q(tenant_id__in=tenant_ids[start : start + 1000])
            | Q(default_domain__in=default_domains[start : start + 1000])
        ).values_list("tenant_id", "default_domain")
        for tenant_id, domain in existing:
            existing_tenants.add(tenant_id)
            existing_domains.add(domain)
    for line, fields in customers:
        if fields["tenant_id"] in existing_tenants:
            errors.append(
                {
                    "line": line,
                    "column": "tenant_id",
                    "message": _("A customer with this tenant id already exists."),
                }
            )
        if fields["default_domain"] in existing_domains:
            errors.append(
                {
                    "line": line,
                    "column": "default_domain",
                    "message": _("A customer with this default domain already exists."),
                }
            )


def create(*, actor, file_name, raw):
    """Record an upload; the file-level checks run now so the agent hears of them at once."""
    text = decode(raw)
    _header, rows = read_rows(text)
    if not rows:
        raise ImportFileError(_("The file has a header but no rows."))
    job = CustomerImport.objects.create(
        created_by=actor, file_name=file_name[:255], csv_text=text, total_rows=len(rows)
    )
    transaction.on_commit(lambda: queue(job.pk))
    return job


def queue(import_id):
    try:
        broker.send_task(RUN_TASK, import_id)
    except Exception:  # the sweep picks it up; the upload itself succeeded
        logger.warning(
            "could not queue customer import %s; the sweep will", import_id, exc_info=True
        )


def claim(import_id, now=None):
    """Take the import for this worker, or return None if another holds it or it is done."""
    now = now or timezone.now()
    unfinished = [Status.PENDING, Status.VALIDATING, Status.IMPORTING]
    claimed = (
        CustomerImport.objects.filter(
            pk=import_id, status__in=unfinished, attempts__lt=MAX_ATTEMPTS
        )
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(
            status=Status.VALIDATING,
            lease_until=now + LEASE,
            attempts=F("attempts") + 1,
            processed_rows=0,
        )
    )
    return CustomerImport.objects.get(pk=import_id) if claimed else None


def run(import_id):
    job = claim(import_id)
    if job is None:
        return None
    try:
        return _run(job)
    except Exception as exc:
        logger.exception("customer import %s crashed", job.pk)
        _finish(
            job,
            Status.FAILED,
            failure=_("The import stopped unexpectedly (%(error)s); nothing was imported.")
            % {"error": type(exc).__name__},
        )
        raise


def _run(job):
    try:
        _header, rows = read_rows(job.csv_text)
    except ImportFileError as exc:
        return _finish(job, Status.FAILED, failure=str(exc))

    def progress(done):
        CustomerImport.objects.filter(pk=job.pk).update(
            processed_rows=done, lease_until=timezone.now() + LEASE
        )

    customers, errors = check_rows(rows, progress)
    if errors:
        return _finish(job, Status.FAILED, errors=errors[:MAX_ERRORS], processed=len(rows))
    CustomerImport.objects.filter(pk=job.pk).update(
        status=Status.IMPORTING, processed_rows=len(rows), lease_until=timezone.now() + LEASE
    )
    with transaction.atomic():
        created = services.import_customers(customers, actor=job.created_by, source=job)
        job.imported_count = len(created)
        _finish(job, Status.SUCCEEDED, processed=len(rows))
    return job


def _finish(job, status, *, errors=(), failure="", processed=None):
    job.status = status
    job.errors = list(errors)
    job.failure = failure
    job.lease_until = None
    job.finished_at = timezone.now()
    if processed is not None:
        job.processed_rows = processed
    job.save(
        update_fields=[
            "status",
            "errors",
            "failure",
            "lease_until",
            "finished_at",
            "processed_rows",
            "imported_count",
        ]
    )
    return job


def resume_stalled(now=None):
    """Re-queue imports nobody is working on: never picked up, or a worker died holding them."""
    now = now or timezone.now()
    stalled = CustomerImport.objects.filter(
        Q(status=Status.PENDING, created_at__lt=now - timedelta(seconds=30))
        | Q(status__in=[Status.VALIDATING, Status.IMPORTING], lease_until__lt=now),
        attempts__lt=MAX_ATTEMPTS,
    ).values_list("pk", flat=True)
    ids = list(stalled)
    for import_id in ids:
        queue(import_id)
    gave_up = CustomerImport.objects.filter(
        status__in=[Status.VALIDATING, Status.IMPORTING],
        lease_until__lt=now,
        attempts__gte=MAX_ATTEMPTS,
    )
    for job in gave_up:
        _finish(
            job,
            Status.FAILED,
            failure=_("The import failed %(count)s times; nothing was imported.")
            % {"count": job.attempts},
        )
    return ids


def template_csv():
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerow(EXAMPLE_ROW)
    return out.getvalue()
