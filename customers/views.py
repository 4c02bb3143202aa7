from collections.abc import Callable
from datetime import timedelta
from typing import NamedTuple

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Case, Count, F, Prefetch, Q, Value, When
from django.http import HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.permissions import capability_required
from accounts.roles import Capability
from core.exports import csv_response
from core.filters import given_filters
from core.forms import save_through
from core.redirects import safe_next_url
from customers import gdap, gdap_sync, imports, listing, service_links, services
from customers.filters import CUSTOMER_ORDERINGS, CustomerFilterSet
from customers.forms import (
    ContactFormSet,
    CustomerForm,
    CustomerImportForm,
    RelationshipForm,
    SubscriptionForm,
    contacts_from,
)
from customers.models import (
    CUSTOMER_COLUMNS,
    AccessAssignment,
    Customer,
    CustomerImport,
    CustomerRelationshipChoices,
    DelegatedAdminRelationship,
    GdapSyncState,
    PartnerCenterSyncState,
    Subscription,
    SubscriptionStatusChoices,
    Tag,
)

VIEW = Capability.VIEW_SUPPORT
MANAGE = Capability.MANAGE_CUSTOMERS
PAGE_SIZE = 50
# The filters the list's form shows; each one's value as given (what the bound form showed).
FORM_FILTERS = ("q", "relationship", "tag", "gdap_state")
TABS = ["overview", "subscriptions", "services", "access", "health", "incidents", "requests"]


def _filtered_customers(request):
    """The filter set of the filters the query string gives (None if it gives none), the
    customers they leave in the order asked for, and that order's name. Only the given filters
    are built, as core.filters.PortalFilterBackend builds them for the API: a filter not given
    leaves every row and has no error, and the list's form reads its choices and values
    elsewhere (customer_list)."""
    customers = Customer.objects.visible_to(request.user)
    given = given_filters(CustomerFilterSet, request.GET)
    filterset = None
    if given:
        filterset = CustomerFilterSet(request.GET, queryset=customers, only=given)
        customers = filterset.qs if filterset.is_valid() else customers.none()
    sort = request.GET.get("sort", "name")
    if sort not in CUSTOMER_ORDERINGS:
        sort = "name"
    return filterset, customers.order_by(*CUSTOMER_ORDERINGS[sort]), sort


def _get_customer(request, tenant_id):
    """A customer the user may see, or 404."""
    return get_object_or_404(Customer.objects.visible_to(request.user), tenant_id=tenant_id)


def _page_of(customers, number):
    """The page of ``customers`` asked for, its rows read as the list shows them. A first page
    read with room to spare holds every row, so the number of its rows is the count: a search or
    a filter mostly fits on one page, and needs no COUNT(*). A full first page, and any other,
    are counted as Paginator counts them.

    A later page's rows are found by their keys alone first, in the same statement: the OFFSET
    then skips entries of the ordering's index without reading the rows themselves (at page 150,
    7,450 rows read and thrown away, each with its feed-badge check, were most of the page's
    time in PostgreSQL)."""
    paginator = Paginator(customers, PAGE_SIZE)
    if number not in (None, "", "1"):
        page = paginator.get_page(number)
        offset = (page.number - 1) * PAGE_SIZE
        keys = customers.values("pk")[offset : offset + PAGE_SIZE]
        ordering = customers.query.order_by
        page.object_list = list(
            _as_listed(Customer.objects.filter(pk__in=keys).order_by(*ordering))
        )
        return page
    rows = list(_as_listed(customers)[:PAGE_SIZE])
    if len(rows) < PAGE_SIZE:
        paginator.count = len(rows)
    page = paginator.page(1)
    page.object_list = rows
    return page


def _as_listed(customers):
    """``customers`` with what a row of the list shows (customers.listing.render_rows)."""
    return customers.only(*listing.LIST_COLUMNS).with_feed_badge()


@capability_required(VIEW)
def customer_list(request):
    filterset, customers, sort = _filtered_customers(request)
    page = _page_of(customers, request.GET.get("page"))
    tags = listing.tag_names(page.object_list)
    rows = listing.render_rows(page.object_list, tags)
    query = request.GET.copy()
    query.pop("page", None)
    sort_query = query.copy()
    sort_query.pop("sort", None)
    return render(
        request,
        "customers/customer_list.html",
        {
            "filterset": filterset,
            "filter_values": {name: request.GET.get(name) for name in FORM_FILTERS},
            "relationship_choices": CustomerRelationshipChoices.choices,
            "gdap_state_choices": gdap.GdapStateChoices.choices,
            "page": page,
            "rows": rows,
            "sort": sort,
            "query": query.urlencode(),
            "sort_query": sort_query.urlencode(),
            "tag_names": tags.every,
            "can_manage": request.user.has_capability(MANAGE),
            "sync_state": PartnerCenterSyncState.get(),
        },
    )


CSV_COLUMNS = [
    *CUSTOMER_COLUMNS,
    "gdap_state",
    "gdap_access_until",
    "notes",
]


@capability_required(VIEW)
def customer_export(request):
    _filterset, customers, _sort = _filtered_customers(request)
    customers = customers.prefetch_related(Prefetch("tags", queryset=Tag.objects.only("name")))
    now = timezone.now()

    def rows():
        yield CSV_COLUMNS
        for customer in customers.iterator(chunk_size=500):
            yield [
                customer.tenant_id,
                customer.company_name,
                customer.default_domain,
                " ".join(customer.other_domains),
                customer.country,
                customer.relationship,
                ",".join(tag.name for tag in customer.tags.all()),
                customer.gdap_state(now).value,
                customer.gdap_access_until.isoformat() if customer.gdap_access_until else "",
                customer.notes,
            ]

    return csv_response("customers.csv", rows())


@capability_required(VIEW)
def customer_detail(request, tenant_id):
    customer = _get_customer(request, tenant_id)
    tab = request.GET.get("tab", "overview")
    if tab not in TABS:
        tab = "overview"
    subscriptions = list(customer.subscriptions.all())
    families = {
        s.service_family for s in subscriptions if s.status != SubscriptionStatusChoices.DELETED
    }
    relationships = customer.relationships.prefetch_related(
        Prefetch("access_assignments", queryset=AccessAssignment.objects.all())
    )
    context = {
        "customer": customer,
        "tab": tab,
        "tabs": TABS,
        "contacts": customer.contacts.all(),
        "subscriptions": subscriptions,
        "admin_links": service_links.links_for(customer, families),
        "relationships": relationships,
        "can_manage": request.user.has_capability(MANAGE),
        "sync_state": GdapSyncState.get() if tab == "access" else None,
    }
    if tab == "health":
        context.update(_health_tab(customer))
        context["can_manage_feeds"] = request.user.has_capability(Capability.MANAGE_INTEGRATIONS)
    elif tab == "incidents":
        context.update(_incidents_tab(customer))
    elif tab == "requests":
        context.update(_requests_tab(customer))
        context["can_work"] = request.user.has_capability(Capability.WORK_SUPPORT)
    return render(request, "customers/customer_detail.html", context)


HEALTH_CHANGES_SHOWN = 20
INCIDENTS_SHOWN = 50


def _health_tab(customer):
    """The customer's services and statuses from its feed source(s), recent changes, failures.

    Read through the reverse relations servicehealth declares, so customers imports nothing
    from it: servicehealth is built on customers, and imports point one way, down the layers.
    """
    sources = list(customer.feed_sources.prefetch_related("health__service"))
    health = sorted(
        (row for source in sources for row in source.health.all()),
        key=lambda row: (-row.severity, row.service.name.lower()),
    )
    changes = sorted(
        (
            change
            for source in sources
            for change in source.health_changes.select_related("service")[:HEALTH_CHANGES_SHOWN]
        ),
        key=lambda change: (change.changed_at, change.pk),
        reverse=True,
    )[:HEALTH_CHANGES_SHOWN]
    return {
        "feed_sources": sources,
        "failing_sources": [
            s for s in sources if s.enabled and (s.is_failing or s.needs_attention)
        ],
        "health": health,
        "health_changes": changes,
    }


def _incidents_tab(customer):
    """Incidents affecting the customer, active first, then by Microsoft's latest change."""
    links = customer.incident_links.select_related("incident").defer("incident__details")
    return {
        "incident_links": links.order_by(
            "incident__is_resolved",
            F("incident__last_modified_at").desc(nulls_last=True),
            "-incident_id",
        )[:INCIDENTS_SHOWN],
        "incident_total": links.count(),
        "incidents_shown": INCIDENTS_SHOWN,
    }


REQUESTS_SHOWN = 50


def _requests_tab(customer):
    """The customer's service requests, open ones first, then the newest.

    Read through the reverse relation servicerequests declares, so customers imports nothing
    from it; "closed" is ServiceRequest's closed status.
    """
    requests = customer.service_requests.select_related("channel").defer("description")
    return {
        "service_requests": requests.annotate(
            closed_last=Case(When(status="closed", then=Value(1)), default=Value(0))
        ).order_by("closed_last", "-created_at", "-pk")[:REQUESTS_SHOWN],
        "request_total": requests.count(),
        "requests_shown": REQUESTS_SHOWN,
    }


def _save_customer(request, form, contact_formset, customer=None):
    create, update = services.create_customer, services.update_customer
    contacts = contacts_from(contact_formset)
    return save_through(
        request, form, customer, create, update, contacts=contacts, **form.service_fields()
    )


def _customer_form_page(request, customer, saved_message):
    """Add (``customer`` None) or edit a customer with its contacts."""
    data = request.POST if request.method == "POST" else None
    form = CustomerForm(data, instance=customer)
    initial_contacts = (
        [
            {"name": c.name, "email": c.email, "phone": c.phone, "role": c.role}
            for c in customer.contacts.all()
        ]
        if customer
        else None
    )
    contact_formset = ContactFormSet(data, prefix="contacts", initial=initial_contacts)
    if request.method == "POST" and form.is_valid() and contact_formset.is_valid():
        saved = _save_customer(request, form, contact_formset, customer)
        if saved is not None:
            messages.success(request, saved_message % {"name": saved})
            return redirect(saved)
    return render(
        request,
        "customers/customer_form.html",
        {"form": form, "contact_formset": contact_formset, "customer": customer},
    )


@capability_required(VIEW, write=MANAGE, form_page=True)
def customer_create(request):
    return _customer_form_page(request, None, _("%(name)s is added."))


@capability_required(VIEW, write=MANAGE, form_page=True)
def customer_edit(request, tenant_id):
    customer = _get_customer(request, tenant_id)
    return _customer_form_page(request, customer, _("%(name)s is saved."))


class _CustomerRows(NamedTuple):
    """Rows a customer's page lists in a tab and edits on a page of their own."""

    model: type
    form_class: type
    save: Callable  # the service function that saves and audits a row
    name: str  # in the template's file name and context
    tab: str  # the customer page's tab that lists them


_SUBSCRIPTIONS = _CustomerRows(
    Subscription, SubscriptionForm, services.save_subscription, "subscription", "subscriptions"
)
_RELATIONSHIPS = _CustomerRows(
    DelegatedAdminRelationship,
    RelationshipForm,
    services.save_relationship,
    "relationship",
    "access",
)


def _customer_row_edit(request, tenant_id, pk, rows, saved_message):
    """Add (``pk`` None) or edit one of a customer's ``rows``."""
    customer = _get_customer(request, tenant_id)
    model = rows.model
    instance = (
        get_object_or_404(model, customer=customer, pk=pk) if pk else model(customer=customer)
    )
    form = rows.form_class(request.POST if request.method == "POST" else None, instance=instance)
    if request.method == "POST" and form.is_valid():
        rows.save(instance, actor=request.user, request=request, **form.cleaned_data)
        messages.success(request, saved_message)
        return redirect(f"{customer.get_absolute_url()}?tab={rows.tab}")
    return render(
        request,
        f"customers/{rows.name}_form.html",
        {"form": form, "customer": customer, rows.name: instance},
    )


@capability_required(VIEW, write=MANAGE, form_page=True)
def subscription_edit(request, tenant_id, pk=None):
    saved_message = _("The subscription is saved.")
    return _customer_row_edit(request, tenant_id, pk, _SUBSCRIPTIONS, saved_message)


@capability_required(VIEW, write=MANAGE, form_page=True)
def relationship_edit(request, tenant_id, pk=None):
    saved_message = _("The relationship is saved.")
    return _customer_row_edit(request, tenant_id, pk, _RELATIONSHIPS, saved_message)


def expiring_relationships(user, days=30, now=None):
    """Relationships granting access that end within ``days``, soonest first."""
    now = now or timezone.now()
    return (
        DelegatedAdminRelationship.objects.filter(
            customer__in=Customer.objects.visible_to(user),
            status__in=gdap.ACCESS_STATUSES,
            ends_on__gt=now,
            ends_on__lte=now + timedelta(days=days),
        )
        .select_related("customer")
        .order_by("ends_on", "pk")
    )


def expiry_counts(user, now=None):
    now = now or timezone.now()
    relationships = expiring_relationships(user, now=now)
    return relationships.aggregate(
        **{
            f"within_{days}": Count("pk", filter=Q(ends_on__lte=now + timedelta(days=days)))
            for days in gdap.EXPIRY_THRESHOLDS_DAYS
        }
    )


@capability_required(VIEW)
def expiring_access(request):
    try:
        days = int(request.GET.get("days", 30))
    except ValueError:
        days = 30
    if days not in gdap.EXPIRY_THRESHOLDS_DAYS:
        days = 30
    now = timezone.now()
    relationships = expiring_relationships(request.user, days=days, now=now)
    without_access = (
        Customer.objects.visible_to(request.user)
        .with_gdap_state(gdap.GdapStateChoices.EXPIRED, now=now)
        .order_by("company_name")
    )
    return render(
        request,
        "customers/expiring_access.html",
        {
            "relationships": relationships,
            "days": days,
            "thresholds": gdap.EXPIRY_THRESHOLDS_DAYS,
            "counts": expiry_counts(request.user, now=now),
            "without_access": without_access,
            "sync_state": GdapSyncState.get(),
            "can_manage": request.user.has_capability(MANAGE),
        },
    )


@capability_required(VIEW, write=MANAGE, form_page=True)
def import_upload(request):
    form = CustomerImportForm(
        request.POST if request.method == "POST" else None,
        request.FILES if request.method == "POST" else None,
    )
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            job = imports.create(actor=request.user, file_name=upload.name, raw=upload.read())
        except imports.ImportFileError as exc:
            form.add_error("file", str(exc))
        else:
            return redirect(job)
    recent = CustomerImport.objects.select_related("created_by").defer("csv_text")[:10]
    return render(
        request,
        "customers/import_upload.html",
        {"form": form, "recent": recent, "columns": imports.COLUMNS},
    )


@capability_required(VIEW, write=MANAGE, form_page=True)
def import_detail(request, pk):
    job = get_object_or_404(CustomerImport.objects.defer("csv_text"), pk=pk)
    return render(request, "customers/import_detail.html", {"job": job})


@capability_required(VIEW, write=MANAGE, form_page=True)
def import_status(request, pk):
    """Progress for the page's script, polled every second until the import finishes."""
    job = get_object_or_404(CustomerImport.objects.defer("csv_text"), pk=pk)
    return JsonResponse(
        {
            "status": job.status,
            "status_label": job.get_status_display(),
            "finished": job.is_finished,
            "percent": job.percent,
            "processed_rows": job.processed_rows,
            "total_rows": job.total_rows,
            "imported_count": job.imported_count,
            "error_count": len(job.errors),
        }
    )


@capability_required(VIEW, write=MANAGE, form_page=True)
def import_template(request):
    response = HttpResponse(imports.template_csv(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="customers-template.csv"'
    return response


@require_POST
@capability_required(VIEW, write=MANAGE)
def gdap_sync_now(request):
    """Ask a worker to read GDAP relationships from Microsoft now."""
    try:
        gdap_sync.queue()
    except Exception:  # the broker is down: say so; beat runs the sync when it is back
        messages.error(request, _("The background workers cannot be reached; try again later."))
    else:
        messages.success(request, _("Reading relationships from Microsoft; refresh in a moment."))
    default = reverse("customers:expiring_access")
    return HttpResponseRedirect(safe_next_url(request, request.POST.get("next"), default))
