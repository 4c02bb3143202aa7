"""Service requests (escalations to Microsoft) and their administration: channels, routing, topics.

Every write goes through ``servicerequests.services`` (requests) or ``admin_services`` (channels,
rules, topics), which write the timeline and the audit log.
"""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Case, Count, IntegerField, Value, When
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.permissions import capability_required
from accounts.roles import Capability
from customers.models import Contact, ContactRoleChoices, Customer
from incidents.models import Incident
from incidents.status import ServiceHealthStatusChoices
from incidents.templatetags.incident_posts import html_to_text
from servicerequests import admin_services, routing, services
from servicerequests.channels.manual import ManualChannel
from servicerequests.forms import (
    CREDENTIAL_FIELDS,
    AssignForm,
    ChannelForm,
    NoteForm,
    ReferenceForm,
    RoutingRuleForm,
    RoutingTestForm,
    ServiceRequestFilterSet,
    ServiceRequestForm,
    StatusForm,
    SupportTopicForm,
)
from servicerequests.models import (
    CategoryChoices,
    Channel,
    DeliveryAttempt,
    DeliveryStateChoices,
    RoutingRule,
    ServiceRequest,
    SeverityChoices,
    StatusChoices,
    SupportTopic,
    TimelineEntry,
)

VIEW = Capability.VIEW_SUPPORT
WORK = Capability.WORK_SUPPORT
MANAGE = Capability.MANAGE_INTEGRATIONS
PAGE_SIZE = 50
# Agents' languages as Partner Center's agent locales.
AGENT_LOCALES = {"tr": "tr-TR"}
DEFAULT_AGENT_LOCALE = "en-US"
STATUS_BADGES = {
    StatusChoices.PENDING_DELIVERY: "warning",
    StatusChoices.OPEN: "ok",
    StatusChoices.ATTENTION_NEEDED: "danger",
    StatusChoices.DELIVERY_FAILED: "danger",
    StatusChoices.CLOSED: "",
}
# What routing reads from the form (the customer through its tags).
ROUTING_FIELDS = ("support_topic", "severity", "customer")
# A delivery still on its way: closing now would race the worker that reopens it on success.
IN_FLIGHT = {DeliveryStateChoices.PENDING, DeliveryStateChoices.SENDING}


def agent_locale():
    return AGENT_LOCALES.get(translation.get_language() or "", DEFAULT_AGENT_LOCALE)


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
    filtered = filterset.qs if filterset.is_valid() else queryset.none()
    page = Paginator(filtered, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    customer = None
    if filterset.is_valid() and filterset.form.cleaned_data.get("customer"):
        customer = (
            Customer.objects.visible_to(request.user)
            .filter(tenant_id=filterset.form.cleaned_data["customer"])
            .first()
        )
    return render(
        request,
        "servicerequests/list.html",
        {
            "filterset": filterset,
            "page": page,
            "query": query.urlencode(),
            "statuses": StatusChoices.choices,
            "severities": SeverityChoices.choices,
            "categories": CategoryChoices.choices,
            "channels": Channel.objects.only("pk", "name").order_by("name"),
            "customer": customer,
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


# --- opening one ----------------------------------------------------------------------------


def _first_contact(customer):
    """The customer's primary contact, else the first one."""
    return (
        Contact.objects.filter(customer=customer)
        .order_by(
            Case(
                When(role=ContactRoleChoices.PRIMARY, then=Value(0)),
                default=Value(1),
                output_field=IntegerField(),
            ),
            "pk",
        )
        .first()
    )


def _contact_initial(customer):
    contact = _first_contact(customer)
    if contact is None:
        return {}
    return {
        "contact_name": contact.name,
        "contact_email": contact.email,
        "contact_phone": contact.phone,
    }


def _incident_initial(incident):
    """Title, description and severity from a Microsoft incident."""
    latest = (
        incident.posts.exclude(content="")
        .order_by("-posted_at", "-pk")
        .only("content", "posted_at")
        .first()
    )
    parts = [
        _("Microsoft incident %(id)s (%(service)s): %(title)s")
        % {"id": incident.microsoft_id, "service": incident.service, "title": incident.title}
    ]
    if incident.impact_description:
        parts.append(_("Impact: %(impact)s") % {"impact": incident.impact_description.strip()})
    if latest is not None:
        when = (
            timezone.localtime(latest.posted_at).strftime("%Y-%m-%d %H:%M")
            if latest.posted_at
            else "—"
        )
        parts.append(
            _("Latest update from Microsoft (%(when)s):") % {"when": when}
            + "\n"
            + html_to_text(latest.content)
        )
    severe = bool(incident.high_impact) or (
        incident.status == ServiceHealthStatusChoices.SERVICE_INTERRUPTION
    )
    topic = (
        SupportTopic.objects.filter(active=True, name__iexact=incident.service).first()
        if incident.service
        else None
    )
    initial = {
        "title": f"[{incident.microsoft_id}] {incident.title}"[:200],
        "description": "\n\n".join(parts)[:10000],
        "severity": SeverityChoices.CRITICAL if severe else SeverityChoices.MODERATE,
        "incident": incident.microsoft_id,
    }
    if topic is not None:
        initial["support_topic"] = topic.pk
    return initial


def _route_for(topic, severity, customer, category=None):
    tags = list(customer.tags.values_list("name", flat=True)) if customer is not None else []
    return routing.route(
        category=category or topic.category,
        severity=severity,
        support_topic=topic,
        customer_tags=tags,
    )


def _decision_json(decision):
    channel = decision.channel
    return {
        "complete": True,
        "routable": channel is not None,
        "channel": channel.name if channel else None,
        "channel_kind": channel.get_kind_display() if channel else None,
        "channel_tier": channel.get_tier_display() if channel else None,
        "rule": decision.rule.name if decision.rule else None,
        "fallback": decision.fallback,
        "explanation": str(decision.explanation),
        "reasons": [
            _reason_json(decision, rule, matched, why) for rule, matched, why in decision.reasons
        ],
    }


def _reason_json(decision, rule, matched, why):
    if rule == decision.rule:
        outcome, note = "chosen", _("matches: chosen")
    elif matched:
        outcome, note = "matched", _("matches, but an earlier rule won")
    else:
        outcome, note = "skipped", str(why)
    return {
        "rule": rule.name,
        "position": rule.position,
        "matched": matched,
        "why": str(why),
        "outcome": outcome,
        "note": note,
    }


@capability_required(VIEW, write=WORK, form_page=True)
def service_request_create(request):
    source = request.POST if request.method == "POST" else request.GET
    incident = None
    incident_id = source.get("incident", "").strip()
    if incident_id:
        incident = (
            Incident.objects.visible_to(request.user).filter(microsoft_id=incident_id).first()
        )
    affected = None
    if incident is not None:
        linked = Customer.objects.filter(incident_links__incident=incident)
        if linked.exists():
            affected = linked.only("pk", "company_name", "tenant_id").order_by("company_name", "pk")
    initial = {"severity": SeverityChoices.MODERATE}
    customer = None
    tenant_id = request.GET.get("customer", "").strip()
    if tenant_id:
        try:
            customer = Customer.objects.visible_to(request.user).filter(tenant_id=tenant_id).first()
        except ValidationError:
            customer = None
    if incident is not None:
        initial.update(_incident_initial(incident))
        if customer is None and affected is not None and len(affected) == 1:
            customer = affected[0]
    if customer is not None and (affected is None or customer in affected):
        initial["customer"] = customer.tenant_id
        initial.update(_contact_initial(customer))

    form = ServiceRequestForm(
        request.POST if request.method == "POST" else None,
        initial=initial,
        affected_customers=affected,
    )
    decision = None
    if request.method == "POST":
        valid = form.is_valid()
        data = form.cleaned_data
        if "preview" in request.POST:
            # Checking the route is not submitting: only the fields routing reads may complain.
            for name in [name for name in form.errors if name not in ROUTING_FIELDS]:
                del form.errors[name]
            if data.get("support_topic") and data.get("severity"):
                decision = _route_for(data["support_topic"], data["severity"], data.get("customer"))
        elif valid:
            try:
                service_request = services.open_service_request(
                    actor=request.user,
                    request=request,
                    title=data["title"],
                    description=data["description"],
                    severity=data["severity"],
                    support_topic=data["support_topic"],
                    customer=data["customer"],
                    contact_name=data["contact_name"],
                    contact_email=data["contact_email"],
                    contact_phone=data["contact_phone"],
                    incident=data.get("incident"),
                    locale=agent_locale(),
                )
            except services.NoRoute as exc:
                form.add_error(
                    None,
                    _("No support channel takes this request: %(reason)s") % {"reason": exc},
                )
            except ValidationError as exc:
                for field, errors in exc.update_error_dict({}).items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                messages.success(
                    request,
                    _("%(number)s is opened and on its way to %(channel)s.")
                    % {"number": service_request.number, "channel": service_request.channel},
                )
                return redirect(service_request)
    return render(
        request,
        "servicerequests/form.html",
        {
            "form": form,
            "decision": decision,
            "incident": incident,
            "customer": customer,
        },
    )


@never_cache
@capability_required(VIEW, write=WORK, form_page=True)
def route_preview(request):
    """Where the create form's request would go, for static/js/servicerequests.js."""
    topic_id = request.GET.get("support_topic", "").strip()
    severity = request.GET.get("severity", "").strip()
    tenant_id = request.GET.get("customer", "").strip()
    if not topic_id or not severity:
        return JsonResponse(
            {
                "complete": False,
                "message": _("Choose a support topic and a severity to see where it goes."),
            }
        )
    if severity not in SeverityChoices.values or not topic_id.isdigit():
        return JsonResponse({"complete": False, "message": _("Unknown value.")}, status=400)
    topic = SupportTopic.objects.filter(pk=topic_id).first()
    if topic is None:
        return JsonResponse({"complete": False, "message": _("Unknown value.")}, status=400)
    customer = None
    if tenant_id:
        try:
            customer = Customer.objects.visible_to(request.user).filter(tenant_id=tenant_id).first()
        except ValidationError:
            customer = None
        if customer is None:
            return JsonResponse({"complete": False, "message": _("Unknown value.")}, status=400)
    return JsonResponse(_decision_json(_route_for(topic, severity, customer)))


# --- one request ----------------------------------------------------------------------------


def _delivery_of(service_request):
    try:
        return service_request.delivery
    except ServiceRequest.delivery.RelatedObjectDoesNotExist:
        return None


def _reopen_status(delivery):
    if delivery is None or delivery.state == DeliveryStateChoices.DELIVERED:
        return StatusChoices.OPEN
    if delivery.state == DeliveryStateChoices.FAILED:
        return StatusChoices.DELIVERY_FAILED
    return StatusChoices.PENDING_DELIVERY


@capability_required(VIEW)
def service_request_detail(request, number):
    service_request = _get_request(request, number)
    delivery = _delivery_of(service_request)
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
            and (delivery is None or delivery.state not in IN_FLIGHT),
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
    delivery = _delivery_of(service_request)
    if form.cleaned_data["action"] == StatusForm.CLOSE:
        if service_request.status == StatusChoices.CLOSED:
            messages.info(request, _("%(number)s is already closed.") % {"number": number})
        elif delivery is not None and delivery.state in IN_FLIGHT:
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
            service_request, _reopen_status(delivery), actor=request.user, request=request
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
    delivery = _delivery_of(service_request)
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
    delivery = _delivery_of(service_request)
    if delivery is None or delivery.state != DeliveryStateChoices.FAILED:
        messages.info(request, _("Its delivery has not failed: nothing to retry."))
        return redirect(service_request)
    services.retry_delivery(service_request, actor=request.user, request=request)
    messages.success(request, _("Delivery is retried; refresh in a moment."))
    return redirect(service_request)


# --- support channels -----------------------------------------------------------------------


def _apply_errors(form, exc):
    """Errors on fields the form shows go next to them; any other at the top."""
    for field, errors in exc.update_error_dict({}).items():
        form.add_error(field if field in form.fields else None, errors)


@capability_required(MANAGE)
def channel_list(request):
    channels = (
        Channel.objects.visible_to(request.user)
        .annotate(rule_count=Count("rules", distinct=True))
        .defer("credentials_encrypted")
        .order_by("-needs_attention", "category", "name", "pk")
    )
    return render(request, "servicerequests/channel_list.html", {"channels": channels})


def _channel_page(request, form, channel):
    return render(
        request,
        "servicerequests/channel_form.html",
        {
            "form": form,
            "channel": channel,
            "credential_fields": CREDENTIAL_FIELDS,
            "stored_credentials": sorted(channel.credentials) if channel else [],
        },
    )


@capability_required(MANAGE)
def channel_create(request):
    form = ChannelForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        fields, credentials = form.service_fields()
        try:
            channel = admin_services.create_channel(
                actor=request.user, request=request, credentials=credentials, **fields
            )
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, _("%(name)s is added.") % {"name": channel})
            return redirect("servicerequests:channel_list")
    return _channel_page(request, form, None)


@capability_required(MANAGE)
def channel_edit(request, pk):
    channel = get_object_or_404(Channel.objects.visible_to(request.user), pk=pk)
    form = ChannelForm(request.POST if request.method == "POST" else None, instance=channel)
    if request.method == "POST" and form.is_valid():
        fields, credentials = form.service_fields()
        try:
            saved = admin_services.update_channel(
                channel, actor=request.user, request=request, credentials=credentials, **fields
            )
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, _("%(name)s is saved.") % {"name": saved})
            return redirect("servicerequests:channel_list")
    # The form's validation may have changed the instance in memory: show the stored state.
    channel.refresh_from_db()
    return _channel_page(request, form, channel)


# --- routing rules --------------------------------------------------------------------------


@capability_required(MANAGE)
def rule_list(request):
    rules = RoutingRule.objects.select_related("channel", "support_topic").order_by(
        "position", "pk"
    )
    return render(request, "servicerequests/rule_list.html", {"rules": rules})


def _rule_page(request, rule_pk=None):
    rule = get_object_or_404(RoutingRule, pk=rule_pk) if rule_pk else None
    initial = {}
    if rule is None:
        last = RoutingRule.objects.order_by("-position").values_list("position", flat=True)
        initial["position"] = (last.first() or 0) + admin_services.RULE_STEP
    form = RoutingRuleForm(
        request.POST if request.method == "POST" else None, instance=rule, initial=initial
    )
    if request.method == "POST" and form.is_valid():
        try:
            if rule is None:
                saved = admin_services.create_rule(
                    actor=request.user, request=request, **form.service_fields()
                )
            else:
                saved = admin_services.update_rule(
                    rule, actor=request.user, request=request, **form.service_fields()
                )
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, _("%(name)s is saved.") % {"name": saved})
            return redirect("servicerequests:rule_list")
    if rule is not None:
        rule.refresh_from_db()
    return render(request, "servicerequests/rule_form.html", {"form": form, "rule": rule})


@capability_required(MANAGE)
def rule_create(request):
    return _rule_page(request)


@capability_required(MANAGE)
def rule_edit(request, pk):
    return _rule_page(request, pk)


@require_POST
@capability_required(MANAGE)
def rule_move(request, pk):
    rule = get_object_or_404(RoutingRule, pk=pk)
    direction = request.POST.get("direction")
    if direction in ("up", "down"):
        admin_services.move_rule(rule, direction, actor=request.user, request=request)
    return redirect(f"{reverse('servicerequests:rule_list')}#rule-{rule.pk}")


@require_POST
@capability_required(MANAGE)
def rule_toggle(request, pk):
    rule = get_object_or_404(RoutingRule, pk=pk)
    saved = admin_services.update_rule(
        rule, actor=request.user, request=request, enabled=not rule.enabled
    )
    if saved.enabled:
        messages.success(request, _("%(name)s is enabled.") % {"name": saved})
    else:
        messages.success(request, _("%(name)s is disabled.") % {"name": saved})
    return redirect("servicerequests:rule_list")


@capability_required(MANAGE)
def routing_test(request):
    """Route an imagined request and show, rule by rule, what matched and why not."""
    form = RoutingTestForm(request.GET or None)
    decision = None
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        customer = data.get("customer")
        decision = routing.route(
            category=data["category"],
            severity=data["severity"],
            support_topic=data.get("support_topic"),
            customer_tags=list(customer.tags.values_list("name", flat=True)) if customer else [],
        )
    return render(
        request, "servicerequests/routing_test.html", {"form": form, "decision": decision}
    )


# --- support topics -------------------------------------------------------------------------


@capability_required(MANAGE)
def topic_list(request):
    topics = SupportTopic.objects.order_by("category", "name", "pk")
    return render(request, "servicerequests/topic_list.html", {"topics": topics})


def _topic_page(request, topic_pk=None):
    topic = get_object_or_404(SupportTopic, pk=topic_pk) if topic_pk else None
    form = SupportTopicForm(request.POST if request.method == "POST" else None, instance=topic)
    if request.method == "POST" and form.is_valid():
        try:
            if topic is None:
                saved = admin_services.create_topic(
                    actor=request.user, request=request, **form.service_fields()
                )
            else:
                saved = admin_services.update_topic(
                    topic, actor=request.user, request=request, **form.service_fields()
                )
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, _("%(name)s is saved.") % {"name": saved})
            return redirect("servicerequests:topic_list")
    if topic is not None:
        topic.refresh_from_db()
    return render(request, "servicerequests/topic_form.html", {"form": form, "topic": topic})


@capability_required(MANAGE)
def topic_create(request):
    return _topic_page(request)


@capability_required(MANAGE)
def topic_edit(request, pk):
    return _topic_page(request, pk)
