"""Customers from Microsoft: Partner Center's customers and Graph's GDAP customers, by tenant id.

One run reads everything first: every page of ``GET /v1/customers``, each customer's record
(country, custom domains; its company profile with the initial ``onmicrosoft.com`` domain is in
the list already) and subscriptions, then Graph's ``delegatedAdminCustomers`` (delegated, as the
partner user). It also asks a few tenants per run what rarely changes: Microsoft's own admin
links (GDAP ``serviceManagementDetails``) and the SharePoint admin URL (Graph ``sites/root`` in
the customer's tenant); a tenant that refuses is noted on its customer and never fails the run.

Only then is anything written, in one transaction: a tenant found in either source is created or
updated by tenant id (a customer typed in or imported from CSV is the same customer, never a
second one), Partner Center's subscriptions are upserted by their id (adopting a typed-in one
with the same offer name), and customers Partner Center listed before but no longer does are
marked ``removed_from_partner_center_at``, never deleted. What Microsoft owns is the company
name, country, relationship, initial domain and subscriptions; domains are added, never removed;
notes, tags, contacts and a default domain already set are the portal's. Every creation and
change is audited with no actor (the system).

A failed read (401, 429, 5xx, a malformed page, a continuation that loops) writes nothing but
the run's record (``CustomerSyncRun``, shown on the sync page and the customer list); beat tries
again on its schedule. A lease on ``PartnerCenterSyncState`` keeps two runs from overlapping.
"""

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from core import audit, broker
from customers import services
from customers.choices import CustomerRelationshipChoices
from customers.microsoft_records import (
    TenantRecord,
    add_customer_details,
    gdap_customer,
    partner_center_customer,
    service_management_links,
    sharepoint_admin_url,
    subscription,
)
from customers.models import Customer, CustomerSyncRun, PartnerCenterSyncState, Subscription
from microsoft.clients import graph_as_partner, partner_center_client
from microsoft.services import NotConnected, connection_ready
from outbound.entra import EntraError
from outbound.graph import GraphAuthError, GraphError
from outbound.partner_center import PartnerCenterError

logger = logging.getLogger(__name__)

LEASE = timedelta(minutes=15)
# The task that runs ``run`` (customers.tasks); queued by name: tasks imports this module.
SYNC_TASK = "customers.tasks.sync_customers"
CUSTOMERS_PATH = "/v1/customers?size=40"
GDAP_CUSTOMERS_PATH = "/tenantRelationships/delegatedAdminCustomers"
# Tenants asked per run for what rarely changes (admin links, the SharePoint admin URL): a first
# sync of hundreds of customers spreads them over a few hours instead of one long run.
LOOKUPS_PER_RUN = 50
PROGRESS_EVERY = 10
RUNS_KEPT = 200
# The customer's fields the API shows, of those the sync writes: a change is a customer.updated.
API_FIELDS = frozenset(
    {"company_name", "default_domain", "other_domains", "country", "relationship"}
)


class NotConfigured(Exception):
    pass


# What a run records and shows (the task has nothing to add); anything else is a bug, raised.
RECORDED_FAILURES = (NotConfigured, NotConnected, PartnerCenterError, EntraError, GraphError)


@dataclass
class Fetched:
    tenants: dict  # tenant id (UUID) -> TenantRecord
    malformed: int = 0


@dataclass
class Summary:
    added: list = field(default_factory=list)  # names
    changed: list = field(default_factory=list)  # {"name", "fields"}
    marked: list = field(default_factory=list)  # names: gone from Partner Center
    unchanged: int = 0
    subscriptions_changed: int = 0
    domain_conflicts: list = field(default_factory=list)  # {"name", "domain", "owner"}
    tenant_access: list = field(default_factory=list)  # {"name", "error"}
    malformed: int = 0

    def as_dict(self):
        return dict(self.__dict__)

    def lines(self):
        lines = [
            f"{len(self.added)} customers added, {len(self.changed)} changed, "
            f"{len(self.marked)} marked as removed from Partner Center, {self.unchanged} "
            f"unchanged; {self.subscriptions_changed} subscriptions written."
        ]
        lines += [f"  added: {name}" for name in self.added]
        lines += [f"  changed: {c['name']} ({', '.join(c['fields'])})" for c in self.changed]
        lines += [f"  marked: {name}" for name in self.marked]
        lines += [
            f"  {c['name']}: its initial domain {c['domain']} is the default domain of "
            f"{c['owner']}; left without a default domain."
            for c in self.domain_conflicts
        ]
        lines += [f"  {t['name']}: {t['error']}" for t in self.tenant_access]
        if self.malformed:
            lines.append(f"{self.malformed} records could not be read and were skipped.")
        return lines


# --- reading -----------------------------------------------------------------------------------


def fetch(partner_center, graph, *, customer_graph=graph_as_partner, progress=None):
    """Read everything; raises PartnerCenterError, GraphError or EntraError, writes nothing.

    ``customer_graph(tenant_id)``: a Graph client in that customer's tenant. ``progress(read,
    listed)`` is told how far the per-customer reads are."""
    tenants, malformed = {}, 0
    for item in partner_center.pages(CUSTOMERS_PATH):
        record = partner_center_customer(item)
        if record is None:
            malformed += 1
            continue
        tenants[record.tenant_id] = record
    listed = list(tenants.values())
    for done, record in enumerate(listed, start=1):
        path = f"/v1/customers/{record.tenant_id}"
        add_customer_details(record, partner_center.get(path))
        for item in partner_center.pages(f"{path}/subscriptions"):
            parsed = subscription(item)
            if parsed is None:
                malformed += 1
            else:
                record.subscriptions.append(parsed)
        if progress and (done % PROGRESS_EVERY == 0 or done == len(listed)):
            progress(done, len(listed))
    for item in graph.get_collection(GDAP_CUSTOMERS_PATH):
        parsed = gdap_customer(item)
        if parsed is None:
            malformed += 1
            continue
        tenant_id, name = parsed
        record = tenants.setdefault(tenant_id, TenantRecord(tenant_id, company_name=name))
        record.in_gdap = True
        record.company_name = record.company_name or name
    _look_up(tenants, graph, customer_graph)
    return Fetched(tenants=tenants, malformed=malformed)


def _look_up(tenants, graph, customer_graph):
    """Microsoft's admin links and the SharePoint admin URL, for the tenants that have none
    yet (those never asked first), LOOKUPS_PER_RUN of each. A refusal is kept as the tenant's
    access error; a transient failure leaves it for the next run."""
    known = {
        row["tenant_id"]: row
        for row in Customer.objects.filter(tenant_id__in=list(tenants)).values(
            "tenant_id", "microsoft_links", "sharepoint_admin_url", "tenant_access_error"
        )
    }
    blank = {"microsoft_links": [], "sharepoint_admin_url": "", "tenant_access_error": ""}
    without_links = [
        t
        for t in tenants.values()
        if t.in_gdap and not known.get(t.tenant_id, blank)["microsoft_links"]
    ]
    for record in without_links[:LOOKUPS_PER_RUN]:
        path = f"{GDAP_CUSTOMERS_PATH}/{record.tenant_id}/serviceManagementDetails"
        try:
            record.microsoft_links = service_management_links(graph.get_collection(path))
        except GraphError:
            continue
    without_site = sorted(
        (t for t in tenants.values() if not known.get(t.tenant_id, blank)["sharepoint_admin_url"]),
        key=lambda t: bool(known.get(t.tenant_id, blank)["tenant_access_error"]),
    )
    for record in without_site[:LOOKUPS_PER_RUN]:
        try:
            site = customer_graph(record.tenant_id).get_json("/sites/root")
        except GraphAuthError as exc:
            record.tenant_access_error = f"SharePoint admin URL: {exc}"[:500]
            continue
        except GraphError:
            continue
        record.sharepoint_admin_url = sharepoint_admin_url(site) or ""
        record.tenant_access_error = ""


# --- writing -----------------------------------------------------------------------------------


def _stored(value):
    return value.isoformat() if hasattr(value, "isoformat") else value


def _wanted(customer, record, free_domain):
    """The fields of ``customer`` that ``record`` changes, with their new values."""
    wanted = {}
    if record.in_partner_center:
        wanted["from_partner_center"] = True
        wanted["removed_from_partner_center_at"] = None
        for name in ("company_name", "initial_domain", "country", "relationship"):
            if getattr(record, name):
                wanted[name] = getattr(record, name)
        domains = set(customer.other_domains) | set(record.other_domains)
        wanted["other_domains"] = sorted(domains - {customer.default_domain, ""})
    if not customer.default_domain and record.initial_domain and free_domain(record):
        wanted["default_domain"] = record.initial_domain
    for name in ("microsoft_links", "sharepoint_admin_url", "tenant_access_error"):
        if getattr(record, name) is not None:
            wanted[name] = getattr(record, name)
    return {name: value for name, value in wanted.items() if getattr(customer, name) != value}


class _Writer:
    """One run's writes, in the caller's transaction."""

    def __init__(self, fetched, now):
        self.fetched = fetched
        self.now = now
        self.summary = Summary(malformed=fetched.malformed)
        self.changes = services.CustomerChanges()
        domains = [t.initial_domain for t in fetched.tenants.values() if t.initial_domain]
        # Default domains in use: a tenant's initial domain becomes its default only if free.
        self.domain_owners = dict(
            Customer.objects.filter(default_domain__in=domains).values_list(
                "default_domain", "company_name"
            )
        )

    def free_domain(self, record):
        owner = self.domain_owners.get(record.initial_domain)
        if owner is None:
            self.domain_owners[record.initial_domain] = record.company_name
            return True
        self.summary.domain_conflicts.append(
            {"name": record.company_name, "domain": record.initial_domain, "owner": owner}
        )
        return False

    def create(self, record):
        customer = Customer(
            tenant_id=record.tenant_id,
            company_name=record.company_name or str(record.tenant_id),
            default_domain="",
            relationship=record.relationship or CustomerRelationshipChoices.RESELLER,
        )
        for name, value in _wanted(customer, record, self.free_domain).items():
            setattr(customer, name, value)
        customer.save()
        audit.record(
            actor=None,
            action="customer.created",
            target=customer,
            after={
                **services.customer_snapshot(customer),
                "source": "partner_center" if record.in_partner_center else "gdap",
            },
        )
        self.summary.added.append(customer.company_name)
        return customer

    def update(self, customer, record):
        wanted = _wanted(customer, record, self.free_domain)
        if not wanted:
            self.summary.unchanged += 1
            return customer
        before = {name: _stored(getattr(customer, name)) for name in wanted}
        for name, value in wanted.items():
            setattr(customer, name, value)
        customer.save(update_fields=list(wanted))
        after = {name: _stored(value) for name, value in wanted.items()}
        audit.record_change(None, "customer.updated", customer, before, after)
        if API_FIELDS & set(wanted):
            self.changes.add(customer, API_FIELDS & set(wanted))
        self.summary.changed.append({"name": customer.company_name, "fields": sorted(wanted)})
        return customer

    def mark_removed(self, customer):
        customer.removed_from_partner_center_at = self.now
        customer.save(update_fields=["removed_from_partner_center_at"])
        audit.record(
            actor=None,
            action="customer.updated",
            target=customer,
            before={"removed_from_partner_center_at": None},
            after={"removed_from_partner_center_at": _stored(self.now)},
        )
        self.summary.marked.append(customer.company_name)

    def subscriptions(self, customer, records):
        current = list(customer.subscriptions.all())
        by_id = {s.microsoft_id: s for s in current if s.microsoft_id}
        typed = [s for s in current if not s.microsoft_id]
        for record in records:
            row = by_id.get(record.microsoft_id)
            if row is None:
                row = next(
                    (s for s in typed if s.offer_name.lower() == record.offer_name.lower()), None
                )
                if row is not None:  # typed in before Partner Center listed it: the same one
                    typed.remove(row)
                    row.microsoft_id = record.microsoft_id
                    Subscription.objects.filter(pk=row.pk).update(microsoft_id=row.microsoft_id)
                else:
                    row = Subscription(customer=customer, microsoft_id=record.microsoft_id)
            before = None if row.pk is None else services.subscription_snapshot(row)
            services.save_subscription(row, actor=None, **record.fields())
            if before != services.subscription_snapshot(row):
                self.summary.subscriptions_changed += 1


@transaction.atomic
def apply(fetched, now=None):
    """Write what ``fetch`` read; returns the Summary."""
    writer = _Writer(fetched, now or timezone.now())
    tenants = fetched.tenants
    existing = {
        c.tenant_id: c
        for c in Customer.objects.select_for_update().filter(tenant_id__in=list(tenants))
    }
    for record in sorted(tenants.values(), key=lambda t: (t.company_name.lower(), t.tenant_id)):
        customer = existing.get(record.tenant_id)
        if customer is None:
            customer = writer.create(record)
        else:
            writer.update(customer, record)
        if record.in_partner_center:
            writer.subscriptions(customer, record.subscriptions)
        if record.tenant_access_error:
            writer.summary.tenant_access.append(
                {"name": customer.company_name, "error": record.tenant_access_error}
            )
    listed = [t.tenant_id for t in tenants.values() if t.in_partner_center]
    gone = (
        Customer.objects.select_for_update()
        .filter(from_partner_center=True, removed_from_partner_center_at__isnull=True)
        .exclude(tenant_id__in=listed)
        .order_by("company_name", "pk")
    )
    for customer in gone:
        writer.mark_removed(customer)
    writer.changes.record()
    return writer.summary


# --- a run ---------------------------------------------------------------------------------------


def _progress(run):
    def report(read, listed):
        CustomerSyncRun.objects.filter(pk=run.pk).update(
            customers_read=read, customers_listed=listed
        )

    return report


def run(*, partner_center=None, graph=None, customer_graph=None, requested_by=None):
    """The sync, as the task and ``manage.py sync_customers`` run it. Returns the Summary, or
    None when another run holds the lease. Failures are recorded, then raised."""
    if not PartnerCenterSyncState.claim(LEASE):
        logger.info("Customer sync already running elsewhere; skipped")
        return None
    # A run whose worker died before it finished holds no lease any more: say so.
    CustomerSyncRun.objects.filter(status=CustomerSyncRun.Status.RUNNING).update(
        status=CustomerSyncRun.Status.FAILED,
        finished_at=timezone.now(),
        error="The worker stopped before the run finished.",
    )
    sync_run = CustomerSyncRun.objects.create(requested_by=requested_by)
    try:
        if partner_center is None or graph is None:
            if not connection_ready():
                raise NotConfigured(
                    "Connect the partner's Microsoft tenant first (Microsoft connection page "
                    "or manage.py connect_microsoft)."
                )
            partner_center = partner_center or partner_center_client()
            graph = graph or graph_as_partner()
        fetched = fetch(
            partner_center,
            graph,
            customer_graph=customer_graph or graph_as_partner,
            progress=_progress(sync_run),
        )
        summary = apply(fetched)
    except Exception as exc:
        outcome, error, attention = failure(exc)
        _finish(sync_run, outcome, error=error, attention=attention)
        raise
    _finish(sync_run, PartnerCenterSyncState.Outcome.SUCCEEDED, summary=summary)
    return summary


def failure(exc):
    """``(outcome, error, needs an admin)`` for a run that raised ``exc``."""
    outcome = PartnerCenterSyncState.Outcome
    if isinstance(exc, NotConfigured | NotConnected):
        return outcome.NOT_CONFIGURED, str(exc), True
    if isinstance(exc, PartnerCenterError | EntraError):
        return outcome.FAILED, str(exc), not exc.retryable
    if isinstance(exc, GraphError):
        return outcome.FAILED, f"Graph: {exc}", exc.permanent
    return outcome.FAILED, f"Unexpected error: {type(exc).__name__}", False


def _finish(sync_run, outcome, *, error="", attention=False, summary=None):
    succeeded = outcome == PartnerCenterSyncState.Outcome.SUCCEEDED
    values = {
        "finished_at": timezone.now(),
        "status": CustomerSyncRun.Status.SUCCEEDED if succeeded else CustomerSyncRun.Status.FAILED,
        "error": error,
    }
    if summary is not None:
        values.update(
            added=len(summary.added),
            changed=len(summary.changed),
            marked=len(summary.marked),
            unchanged=summary.unchanged,
            subscriptions_changed=summary.subscriptions_changed,
            details=summary.as_dict(),
        )
    CustomerSyncRun.objects.filter(pk=sync_run.pk).update(**values)
    PartnerCenterSyncState.finish(
        outcome, error=error, attention=attention, summary=summary.as_dict() if summary else None
    )
    kept = CustomerSyncRun.objects.values_list("pk", flat=True)[RUNS_KEPT:]
    CustomerSyncRun.objects.filter(pk__in=list(kept)).delete()


def queue(requested_by=None):
    """Ask a worker to run the sync now; raises what the broker raises."""
    broker.send_task(SYNC_TASK, requested_by.pk if requested_by else None)
    PartnerCenterSyncState.get()
    PartnerCenterSyncState.objects.filter(pk=1).update(queued_at=timezone.now())
