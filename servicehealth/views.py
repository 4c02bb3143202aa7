import uuid

from django.contrib import messages
from django.db.models import Count, Q
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.timesince import timesince
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.permissions import capability_required
from accounts.roles import Capability
from core.forms import save_through
from customers.models import Customer
from incidents.models import Incident
from incidents.status import (
    STATUS_SEVERITY,
    severity_level,
    status_label,
    status_severity,
)
from microsoft.services import NotConnected
from outbound.entra import EntraError
from outbound.partner_center import PartnerCenterError
from outbound.urlguard import UnsafeURL
from servicehealth import app_consent, cycles, polling, services
from servicehealth.forms import FeedSourceForm
from servicehealth.models import FeedSource, Service, TenantServiceHealth

VIEW = Capability.VIEW_SUPPORT
MANAGE = Capability.MANAGE_INTEGRATIONS
HEALTHY_STATUSES = [status for status, severity in STATUS_SEVERITY.items() if severity == 0]


def failing_sources():
    """Enabled feed sources whose last polls failed: their tenants' data is getting old."""
    return FeedSource.objects.filter(enabled=True).filter(
        Q(consecutive_failures__gt=0) | Q(needs_attention=True)
    )


def service_health_rows():
    """Each service with its worst current status, affected customers and active incidents.

    Four queries whatever the number of services, customers and feeds: the services, the
    distinct (service, status) pairs, the affected customers per service and the active
    incidents per service name. Sources that are switched off hold stale data and are left out.
    """
    current = TenantServiceHealth.objects.filter(source__enabled=True)
    worst = {}
    for service_id, status in current.values_list("service_id", "status").distinct():
        severity = status_severity(status)
        known = worst.get(service_id)
        if known is None or (severity, status) > (known[1], known[0]):
            worst[service_id] = (status, severity)
    affected = dict(
        current.exclude(status__in=HEALTHY_STATUSES)
        .filter(source__customer__isnull=False)
        .values("service_id")
        .annotate(customers=Count("source__customer", distinct=True))
        .values_list("service_id", "customers")
    )
    incidents = dict(
        Incident.objects.active()
        .values("service")
        .annotate(count=Count("pk"))
        .values_list("service", "count")
    )
    incidents_url = reverse("incidents:list")
    rows = []
    for service in Service.objects.order_by("name", "pk"):
        status, severity = worst.get(service.pk, (None, None))
        rows.append(
            {
                "id": service.pk,
                "graph_id": service.graph_id,
                "name": service.name,
                "status": status,
                "status_label": status_label(status) if status else _("No data"),
                "severity": severity,
                "level": severity_level(severity),
                "affected_customers": affected.get(service.pk, 0),
                "active_incidents": incidents.get(service.name, 0),
                "incidents_url": (
                    f"{incidents_url}?{urlencode({'state': 'active', 'service': service.name})}"
                ),
            }
        )
    # Worst first, so what hurts is at the top.
    rows.sort(key=lambda row: (-(row["severity"] or 0), row["name"].lower()))
    return rows


@capability_required(VIEW)
def health_dashboard(request):
    return render(
        request,
        "servicehealth/dashboard.html",
        {
            "rows": service_health_rows(),
            "generated_at": timezone.now(),
            "failing_count": failing_sources().count(),
            "can_manage_feeds": request.user.has_capability(MANAGE),
        },
    )


@never_cache
@capability_required(VIEW)
def health_status(request):
    """The dashboard's rows as JSON, polled by static/js/health.js every 30 seconds."""
    now = timezone.now()
    return JsonResponse(
        {
            "generated_at": now.isoformat(),
            "generated_at_display": timezone.localtime(now).strftime("%H:%M:%S"),
            "services": service_health_rows(),
        }
    )


def _get_source(request, pk):
    return get_object_or_404(FeedSource.objects.visible_to(request.user), pk=pk)


def duration_text(delta):
    """A cycle's length as people say it: seconds up to two minutes, then minutes and hours."""
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 120:
        return ngettext("%(count)d second", "%(count)d seconds", seconds) % {"count": seconds}
    now = timezone.now()
    return timesince(now - delta, now)


@capability_required(MANAGE)
def feed_list(request):
    # What needs an admin first, then the failing ones, then by name.
    sources = (
        FeedSource.objects.visible_to(request.user)
        .select_related("customer")
        .order_by("-needs_attention", "-consecutive_failures", "name", "pk")
    )
    cycle = cycles.progress()
    duration = cycle.last_duration
    return render(
        request,
        "servicehealth/feed_list.html",
        {
            "sources": sources,
            "cycle": cycle,
            "cycle_duration": duration_text(duration) if duration is not None else "",
        },
    )


def _save_source(request, form, source=None):
    fields, secret = form.service_fields()
    create, update = services.create_feed_source, services.update_feed_source
    return save_through(request, form, source, create, update, client_secret=secret, **fields)


@capability_required(MANAGE)
def feed_create(request):
    initial = {}
    customer = request.GET.get("customer")
    if customer:
        found = Customer.objects.filter(tenant_id=customer).first() if _is_uuid(customer) else None
        if found is not None:
            initial = {"customer": found, "name": found.company_name}
    form = FeedSourceForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        source = _save_source(request, form)
        if source is not None:
            messages.success(
                request, _("%(name)s is added; it is polled shortly.") % {"name": source}
            )
            return redirect("servicehealth:feed_list")
    return render(request, "servicehealth/feed_form.html", {"form": form, "source": None})


@capability_required(MANAGE)
def feed_edit(request, pk):
    source = _get_source(request, pk)
    form = FeedSourceForm(request.POST if request.method == "POST" else None, instance=source)
    if request.method == "POST" and form.is_valid():
        saved = _save_source(request, form, source)
        if saved is not None:
            messages.success(request, _("%(name)s is saved.") % {"name": saved})
            return redirect("servicehealth:feed_list")
    # The form's validation may have changed the instance in memory: show the stored state.
    source.refresh_from_db()
    return render(request, "servicehealth/feed_form.html", {"form": form, "source": source})


@require_POST
@capability_required(MANAGE)
def feed_poll(request, pk):
    """Ask a worker to poll this source now."""
    source = _get_source(request, pk)
    if not source.enabled:
        messages.error(request, _("%(name)s is switched off: enable it first.") % {"name": source})
        return redirect("servicehealth:feed_list")
    try:
        polling.queue_poll(source.pk)
    except Exception:  # the broker is down: say so; beat polls the source when it is back
        messages.error(request, _("The background workers cannot be reached; try again later."))
    else:
        messages.success(
            request, _("Polling %(name)s now; refresh in a moment.") % {"name": source}
        )
    return redirect("servicehealth:feed_list")


@require_POST
@capability_required(MANAGE)
def feed_consent_app(request, pk):
    """Consent the partner's app in this source's tenant (Partner Center), then read app-only."""
    source = _get_source(request, pk)
    try:
        app_consent.consent_and_read_app_only(source, actor=request.user, request=request)
    except (NotConnected, EntraError, PartnerCenterError, UnsafeURL) as exc:
        messages.error(
            request, _("The app was not consented in this tenant: %(error)s") % {"error": exc}
        )
    else:
        messages.success(
            request,
            _("The app is consented in %(name)s's tenant; it is read app-only now.")
            % {"name": source},
        )
    return redirect("servicehealth:feed_edit", pk=source.pk)


def _is_uuid(value):
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True
