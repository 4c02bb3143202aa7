import json

from django.conf import settings
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.http import require_safe

from accounts.models import User
from accounts.permissions import capability_required
from accounts.roles import Capability
from core.exports import csv_response
from core.models import AuditEntry, Event, EventTypeChoices
from customers.models import Customer
from customers.views import expiry_counts
from incidents.views import dashboard_summary as incidents_summary
from integrations.models import WebhookSubscription
from servicehealth.views import failing_sources
from servicerequests.views.requests import dashboard_summary as requests_summary


@capability_required(None)
def dashboard(request):
    capabilities = request.user.capabilities
    if not capabilities:
        # A user with no role sees nothing but their own profile.
        return redirect("accounts:profile")
    context = {"capabilities": {c.value for c in capabilities}}
    if Capability.VIEW_SUPPORT in capabilities:
        context["expiry_counts"] = expiry_counts(request.user)
        context["incident_summary"] = incidents_summary(request.user)
        context["failing_feed_count"] = failing_sources().count()
        context["request_summary"] = requests_summary(request.user)
    if Capability.MANAGE_INTEGRATIONS in capabilities:
        # Failing now, or switched off by the worker after failing (a 410 or a long run).
        webhooks = WebhookSubscription.objects.filter(failing_since__isnull=False)
        context["webhook_problems"] = {
            "failing": webhooks.filter(is_active=True).count(),
            "disabled": webhooks.filter(is_active=False).count(),
        }
    if Capability.MANAGE_STAFF in capabilities:
        staff = User.objects.staff_members()
        context["staff_counts"] = {
            "active": staff.filter(is_active=True).count(),
            "deactivated": staff.filter(is_active=False).count(),
        }
    return render(request, "dashboard/dashboard.html", context)


@capability_required(Capability.VIEW_SUPPORT)
def events(request):
    """What happened: incidents affecting customers, service requests, customer changes,
    delegated access about to end, failing feeds.

    The same records PSA webhooks deliver, newest first."""
    selected = request.GET.get("type", "")
    queryset = Event.objects.all()
    if selected in EventTypeChoices.values:
        queryset = queryset.filter(type=selected)
    page = Paginator(queryset, 50).get_page(request.GET.get("page"))
    tenant_ids = {event.tenant_id for event in page if event.tenant_id}
    customers = {c.tenant_id: c for c in Customer.objects.filter(tenant_id__in=tenant_ids)}
    rows = [(event, customers.get(event.tenant_id)) for event in page]
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "dashboard/events.html",
        {
            "page": page,
            "rows": rows,
            "types": EventTypeChoices.choices,
            "selected": selected,
            "query": query.urlencode(),
            # Older ones are deleted daily (integrations.retention).
            "event_retention_days": settings.EVENT_RETENTION_DAYS,
            "delivery_retention_days": settings.WEBHOOK_DELIVERY_RETENTION_DAYS,
        },
    )


def _filtered_audit_entries(request):
    entries = AuditEntry.objects.all()
    action = request.GET.get("action", "").strip()
    if action:
        entries = entries.filter(action=action)
    actor = request.GET.get("actor", "").strip()
    if actor:
        entries = entries.filter(actor_email__icontains=actor)
    target = request.GET.get("target", "").strip()
    if target:
        entries = entries.filter(target_repr__icontains=target)
    return entries, {"action": action, "actor": actor, "target": target}


@require_safe  # the audit log is only ever read here
@capability_required(Capability.VIEW_AUDIT_LOG)
def audit_log(request):
    entries, filters = _filtered_audit_entries(request)
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    actions = AuditEntry.objects.order_by("action").values_list("action", flat=True).distinct()
    return render(
        request,
        "dashboard/audit_log.html",
        {"page": page, "filters": filters, "actions": actions, "query": request.GET.urlencode()},
    )


AUDIT_CSV_COLUMNS = [
    "time",
    "actor",
    "action",
    "object_type",
    "object_id",
    "object",
    "before",
    "after",
    "ip_address",
    "request_id",
]


@require_safe
@capability_required(Capability.VIEW_AUDIT_LOG)
def audit_log_export(request):
    entries, _filters = _filtered_audit_entries(request)

    def rows():
        yield AUDIT_CSV_COLUMNS
        for entry in entries.iterator(chunk_size=1000):
            yield [
                entry.created_at.isoformat(),
                entry.actor_email,
                entry.action,
                entry.target_type,
                entry.target_id,
                entry.target_repr,
                json.dumps(entry.before, sort_keys=True) if entry.before is not None else "",
                json.dumps(entry.after, sort_keys=True) if entry.after is not None else "",
                entry.ip_address or "",
                entry.request_id,
            ]

    return csv_response("audit-log.csv", rows())
