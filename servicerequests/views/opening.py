"""Opening a service request: the form (from scratch, for a customer or from a Microsoft
incident) and the live preview of where routing would send it.

``servicerequests.services.open_service_request`` saves it, with its timeline and audit entry.
"""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Case, IntegerField, Value, When
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from accounts.permissions import capability_required
from accounts.roles import Capability
from core.forms import apply_errors
from customers.models import Contact, ContactRoleChoices, Customer
from incidents.models import Incident
from incidents.status import ServiceHealthStatusChoices
from incidents.templatetags.incident_posts import html_to_text
from servicerequests import routing, services
from servicerequests.forms import ServiceRequestForm
from servicerequests.models import SeverityChoices, SupportTopic

VIEW = Capability.VIEW_SUPPORT
WORK = Capability.WORK_SUPPORT
# Agents' languages as Partner Center's agent locales.
AGENT_LOCALES = {"tr": "tr-TR"}
DEFAULT_AGENT_LOCALE = "en-US"
# What routing reads from the form (the customer through its tags).
ROUTING_FIELDS = ("support_topic", "severity", "customer")


def agent_locale():
    return AGENT_LOCALES.get(translation.get_language() or "", DEFAULT_AGENT_LOCALE)


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
                apply_errors(form, exc)
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
