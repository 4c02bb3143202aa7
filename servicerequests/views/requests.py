"""The agents' service-request pages: the list, one request, and what an agent does to it (add a
note, close or reopen, assign, record Microsoft's reference, retry a failed delivery); and the
dashboard's summary of the requests needing attention.

Every write goes through ``servicerequests.services``, which writes the timeline and the audit log.
"""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.permissions import capability_required
from accounts.roles import Capability
from core.pagination import filtered_page
from customers.filters import filtered_customer
from servicerequests import services
from servicerequests.channels.manual import ManualChannel
from servicerequests.filters import ServiceRequestFilterSet
from servicerequests.forms import AssignForm, NoteForm, ReferenceForm, StatusForm
from servicerequests.models import (
    CategoryChoices,
    Channel,
    DeliveryAttempt,
    DeliveryStateChoices,
    ServiceRequest,
    SeverityChoices,
    StatusChoices,
    TimelineEntry,
    delivery_of,
)

VIEW = Capability.VIEW_SUPPORT
WORK = Capability.WORK_SUPPORT
MANAGE = Capability.MANAGE_INTEGRATIONS
PAGE_SIZE = 50
STATUS_BADGES = {
    StatusChoices.PENDING_DELIVERY: "warning",
    StatusChoices.OPEN: "ok",
    StatusChoices.ATTENTION_NEEDED: "danger",
    StatusChoices.DELIVERY_FAILED: "danger",
    StatusChoices.CLOSED: "",
}


def _get_request(request, number):
    """A service request the user may see, or 404."""
    return get_object_or_404(
        ServiceRequest.objects.visible_to(request.user).select_related(
            "customer", "channel", "support_topic", "incident", "assignee", "created_by"
        ),
        number=number,
    )


# --- the list -------------------------------------------------------------------------------


@capability_required(VIEW)
def service_request_list(request):
    queryset = (
        ServiceRequest.objects.visible_to(request.user)
        .select_related("customer", "channel")
        .defer("description", "customer__notes", "customer__search_text")
        .order_by("-created_at", "-pk")
    )
    filterset = ServiceRequestFilterSet(request.GET, queryset=queryset, user=request.user)
    return render(
        request,
        "servicerequests/list.html",
        {
            **filtered_page(request, filterset, PAGE_SIZE),
            "statuses": StatusChoices.choices,
            "severities": SeverityChoices.choices,
            "categories": CategoryChoices.choices,
            "channels": Channel.objects.only("pk", "name").order_by("name"),
            "customer": filtered_customer(filterset, request.user),
            "now": timezone.now(),
            "can_work": request.user.has_capability(WORK),
        },
    )


def dashboard_summary(user, now=None, limit=8):
    """The dashboard card: requests needing attention (Microsoft waits on us, delivery failed,
    first response overdue), the first ``limit`` of them and the counts of each kind."""
    now = now or timezone.now()
    visible = ServiceRequest.objects.visible_to(user)
    attention = visible.needing_attention(now)
    counts = {
        "total": attention.count(),
        "attention_needed": visible.filter(status=StatusChoices.ATTENTION_NEEDED).count(),
        "delivery_failed": visible.filter(status=StatusChoices.DELIVERY_FAILED).count(),
        "breached": visible.breached(now).count(),
    }
    recent = list(
        attention.select_related("customer")
        .defer("description")
        .order_by("response_due_at", "pk")[:limit]
    )
    return {**counts, "recent": recent, "now": now}


# --- one request ----------------------------------------------------------------------------


@capability_required(VIEW)
def service_request_detail(request, number):
    service_request = _get_request(request, number)
    delivery = delivery_of(service_request)
    attempts = (
        DeliveryAttempt.objects.filter(delivery=delivery).order_by("number", "pk")
        if delivery is not None
        else []
    )
    can_work = request.user.has_capability(WORK)
    is_manual = (
        delivery is not None
        and delivery.state == DeliveryStateChoices.MANUAL
        and service_request.channel is not None
        and service_request.channel.kind == "manual"
    )
    deep_link = (
        ManualChannel(service_request.channel).deep_link(service_request) if is_manual else ""
    )
    assign_form = AssignForm(initial={"assignee": service_request.assignee_id})
    return render(
        request,
        "servicerequests/detail.html",
        {
            "sr": service_request,
            "delivery": delivery,
            "attempts": attempts,
            "timeline": TimelineEntry.objects.filter(service_request=service_request).order_by(
                "created_at", "pk"
            ),
            "notes": service_request.notes.order_by("created_at", "pk"),
            "status_badge": STATUS_BADGES.get(service_request.status, ""),
            "can_work": can_work,
            "can_manage": request.user.has_capability(MANAGE),
            "can_close": service_request.status != StatusChoices.CLOSED
            and (delivery is None or delivery.state not in services.IN_FLIGHT),
            "is_closed": service_request.status == StatusChoices.CLOSED,
            "is_manual": is_manual,
            "deep_link": deep_link,
            "can_retry": delivery is not None and delivery.state == DeliveryStateChoices.FAILED,
            "note_form": NoteForm(),
            "assign_form": assign_form,
            "reference_form": ReferenceForm(),
        },
    )


def _form_errors(form):
    return " ".join(str(error) for errors in form.errors.values() for error in errors)


@require_POST
@capability_required(VIEW, write=WORK)
def service_request_note(request, number):
    service_request = _get_request(request, number)
    form = NoteForm(request.POST)
    if form.is_valid():
        services.add_note(
            service_request, text=form.cleaned_data["text"], actor=request.user, request=request
        )
        messages.success(request, _("The note is added."))
    else:
        messages.error(request, _form_errors(form))
    return redirect(f"{service_request.get_absolute_url()}#notes")


@require_POST
@capability_required(VIEW, write=WORK)
def service_request_status(request, number):
    service_request = _get_request(request, number)
    form = StatusForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose whether to close or reopen it."))
        return redirect(service_request)
    delivery = delivery_of(service_request)
    if form.cleaned_data["action"] == StatusForm.CLOSE:
        if service_request.status == StatusChoices.CLOSED:
            messages.info(request, _("%(number)s is already closed.") % {"number": number})
        elif delivery is not None and delivery.state in services.IN_FLIGHT:
            messages.error(
                request,
                _("%(number)s is still being delivered: close it once the channel has it.")
                % {"number": number},
            )
        else:
            services.change_status(
                service_request, StatusChoices.CLOSED, actor=request.user, request=request
            )
            messages.success(request, _("%(number)s is closed.") % {"number": number})
    elif service_request.status != StatusChoices.CLOSED:
        messages.info(request, _("%(number)s is not closed.") % {"number": number})
    else:
        services.change_status(
            service_request, services.reopen_status(delivery), actor=request.user, request=request
        )
        messages.success(request, _("%(number)s is reopened.") % {"number": number})
    return redirect(service_request)


@require_POST
@capability_required(VIEW, write=WORK)
def service_request_assign(request, number):
    service_request = _get_request(request, number)
    form = AssignForm(request.POST)
    if not form.is_valid():
        messages.error(request, _form_errors(form))
        return redirect(service_request)
    assignee = form.cleaned_data["assignee"]
    if assignee == service_request.assignee:
        messages.info(request, _("Nothing changed."))
        return redirect(service_request)
    services.assign(service_request, assignee, actor=request.user, request=request)
    if assignee is None:
        messages.success(request, _("%(number)s is unassigned.") % {"number": number})
    else:
        messages.success(
            request,
            _("%(number)s is assigned to %(name)s.")
            % {"number": number, "name": assignee.get_full_name()},
        )
    return redirect(service_request)


@require_POST
@capability_required(VIEW, write=WORK)
def service_request_reference(request, number):
    """The agent filed it in Microsoft's portal by hand and records Microsoft's number."""
    service_request = _get_request(request, number)
    delivery = delivery_of(service_request)
    if delivery is None or delivery.state != DeliveryStateChoices.MANUAL:
        messages.error(
            request, _("%(number)s is not waiting for a reference.") % {"number": number}
        )
        return redirect(service_request)
    form = ReferenceForm(request.POST)
    if form.is_valid():
        services.record_manual_reference(
            service_request, form.cleaned_data["reference"], actor=request.user, request=request
        )
        messages.success(request, _("Microsoft's reference is recorded."))
    else:
        messages.error(request, _form_errors(form))
    return redirect(service_request)


@require_POST
@capability_required(MANAGE)
def service_request_retry(request, number):
    """A Global admin sends a failed delivery again (the same idempotency key)."""
    service_request = _get_request(request, number)
    delivery = delivery_of(service_request)
    if delivery is None or delivery.state != DeliveryStateChoices.FAILED:
        messages.info(request, _("Its delivery has not failed: nothing to retry."))
        return redirect(service_request)
    services.retry_delivery(service_request, actor=request.user, request=request)
    messages.success(request, _("Delivery is retried; refresh in a moment."))
    return redirect(service_request)
