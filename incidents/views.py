from django.contrib import messages
from django.db.models import Count, Exists, F, OuterRef
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.permissions import capability_required
from accounts.roles import Capability
from core.filters import menu_choices, values_present
from core.pagination import filtered_page
from customers.filters import filtered_customer
from incidents import services
from incidents.filters import IncidentFilterSet, IncidentStateChoices
from incidents.forms import AcknowledgeForm, SnoozeForm
from incidents.models import Incident, IncidentClassificationChoices, Snooze
from incidents.status import ServiceHealthStatusChoices

VIEW = Capability.VIEW_SUPPORT
WORK = Capability.WORK_SUPPORT
PAGE_SIZE = 50
# Active first, then the latest change by Microsoft (the incidents_active_recent index).
LIST_ORDER = ("is_resolved", F("last_modified_at").desc(nulls_last=True), "-pk")


def _snoozed_by(user, now):
    return Exists(Snooze.objects.filter(incident=OuterRef("pk"), user=user, until__gt=now))


def _get_incident(request, microsoft_id):
    """An incident the user may see, or 404."""
    return get_object_or_404(Incident.objects.visible_to(request.user), microsoft_id=microsoft_id)


@capability_required(VIEW)
def incident_list(request):
    now = timezone.now()
    incidents = (
        Incident.objects.visible_to(request.user)
        .defer("details")
        .annotate(
            affected_count=Count("affected", distinct=True),
            snoozed=_snoozed_by(request.user, now),
        )
        .order_by(*LIST_ORDER)
    )
    filterset = IncidentFilterSet(request.GET, queryset=incidents)
    services_seen, statuses_seen, classifications_seen = values_present(
        Incident.objects.visible_to(request.user), "service", "status", "classification"
    )
    return render(
        request,
        "incidents/incident_list.html",
        {
            **filtered_page(request, filterset, PAGE_SIZE),
            "states": IncidentStateChoices.choices,
            "classifications": menu_choices(
                IncidentClassificationChoices.choices, classifications_seen
            ),
            "statuses": menu_choices(ServiceHealthStatusChoices.choices, statuses_seen),
            "services": sorted(s for s in services_seen if s),
            "customer": filtered_customer(filterset, request.user),
        },
    )


@capability_required(VIEW)
def incident_detail(request, microsoft_id):
    incident = _get_incident(request, microsoft_id)
    now = timezone.now()
    snooze = Snooze.objects.filter(incident=incident, user=request.user, until__gt=now).first()
    return render(
        request,
        "incidents/incident_detail.html",
        {
            "incident": incident,
            "posts": incident.posts.order_by(F("posted_at").asc(nulls_first=True), "pk"),
            "affected": incident.affected.by_customer_name(),
            "acknowledgements": incident.acknowledgements.select_related("user"),
            # Through the reverse relation servicerequests declares: incidents imports nothing
            # from it.
            "service_requests": incident.service_requests.select_related("customer").defer(
                "description"
            ),
            "snooze": snooze,
            "can_work": request.user.has_capability(WORK),
            "acknowledge_form": AcknowledgeForm(),
            "snooze_form": SnoozeForm(),
        },
    )


@require_POST
@capability_required(VIEW, write=WORK)
def incident_acknowledge(request, microsoft_id):
    incident = _get_incident(request, microsoft_id)
    form = AcknowledgeForm(request.POST)
    if form.is_valid():
        services.acknowledge(
            incident, user=request.user, note=form.cleaned_data["note"], request=request
        )
        messages.success(request, _("%(id)s is acknowledged.") % {"id": incident.microsoft_id})
    else:
        messages.error(request, " ".join(form.errors.get("note", [])))
    return redirect(incident)


@require_POST
@capability_required(VIEW, write=WORK)
def incident_snooze(request, microsoft_id):
    incident = _get_incident(request, microsoft_id)
    if "unsnooze" in request.POST:
        services.snooze(incident, user=request.user, until=None, request=request)
        messages.success(request, _("%(id)s is no longer snoozed.") % {"id": incident.microsoft_id})
        return redirect(incident)
    form = SnoozeForm(request.POST)
    if form.is_valid():
        until = form.until()
        services.snooze(incident, user=request.user, until=until, request=request)
        messages.success(
            request,
            _("%(id)s is snoozed until %(until)s.")
            % {
                "id": incident.microsoft_id,
                "until": timezone.localtime(until).strftime("%Y-%m-%d %H:%M"),
            },
        )
    else:
        messages.error(request, _("Choose how long to snooze it for."))
    return redirect(incident)


def dashboard_summary(user, now=None):
    """The dashboard card: active incidents, how many customers they hit, the latest three.

    The latest three leave out incidents the user has snoozed; the counts do not.
    """
    now = now or timezone.now()
    active = Incident.objects.visible_to(user).active()
    counts = active.aggregate(
        incidents=Count("pk", distinct=True), customers=Count("affected__customer", distinct=True)
    )
    recent = list(
        active.defer("details")
        .filter(~_snoozed_by(user, now))
        .order_by(F("last_modified_at").desc(nulls_last=True), "-pk")[:3]
    )
    return {**counts, "recent": recent}
