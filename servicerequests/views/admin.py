"""The support administration pages (Global admins): channels, routing rules with a routing test,
and support topics.

Every write goes through ``servicerequests.channel_setup``, which writes the audit log and never
a secret.
"""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.permissions import capability_required
from accounts.roles import Capability
from core.forms import apply_errors, save_through
from servicerequests import channel_setup, routing
from servicerequests.forms import (
    CREDENTIAL_FIELDS,
    ChannelForm,
    RoutingRuleForm,
    RoutingTestForm,
    SupportTopicForm,
)
from servicerequests.models import Channel, RoutingRule, SupportTopic

MANAGE = Capability.MANAGE_INTEGRATIONS

# --- support channels -----------------------------------------------------------------------


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
            channel = channel_setup.create_channel(
                actor=request.user, request=request, credentials=credentials, **fields
            )
        except ValidationError as exc:
            apply_errors(form, exc)
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
            saved = channel_setup.update_channel(
                channel,
                actor=request.user,
                request=request,
                credentials=credentials,
                forget=form.forgotten(),
                **fields,
            )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("%(name)s is saved.") % {"name": saved})
            return redirect("servicerequests:channel_list")
    # The form's validation may have changed the instance in memory: show the stored state.
    channel.refresh_from_db()
    return _channel_page(request, form, channel)


# --- routing rules --------------------------------------------------------------------------


# The services that add and change each kind the add/edit pages below serve.
SETUP_SERVICES = {
    "rule": (channel_setup.create_rule, channel_setup.update_rule),
    "topic": (channel_setup.create_topic, channel_setup.update_topic),
}


def _setup_form_page(request, form, kind, instance):
    """Add (``instance`` None) or edit a routing rule or support topic through channel_setup;
    once saved, back to its list."""
    if request.method == "POST" and form.is_valid():
        saved = save_through(
            request, form, instance, *SETUP_SERVICES[kind], **form.service_fields()
        )
        if saved is not None:
            messages.success(request, _("%(name)s is saved.") % {"name": saved})
            return redirect(f"servicerequests:{kind}_list")
    # The form's validation may have changed the instance in memory: show the stored state.
    if instance is not None:
        instance.refresh_from_db()
    return render(request, f"servicerequests/{kind}_form.html", {"form": form, kind: instance})


@capability_required(MANAGE)
def rule_list(request):
    rules = RoutingRule.objects.select_related("channel", "support_topic").order_by(
        "position", "pk"
    )
    return render(request, "servicerequests/rule_list.html", {"rules": rules})


@capability_required(MANAGE)
def rule_edit(request, pk=None):
    """Add (no ``pk``: a new rule goes last) or edit a routing rule."""
    rule = get_object_or_404(RoutingRule, pk=pk) if pk else None
    initial = {}
    if rule is None:
        last = RoutingRule.objects.order_by("-position").values_list("position", flat=True)
        initial["position"] = (last.first() or 0) + channel_setup.RULE_STEP
    form = RoutingRuleForm(
        request.POST if request.method == "POST" else None, instance=rule, initial=initial
    )
    return _setup_form_page(request, form, "rule", rule)


@require_POST
@capability_required(MANAGE)
def rule_move(request, pk):
    rule = get_object_or_404(RoutingRule, pk=pk)
    direction = request.POST.get("direction")
    if direction in ("up", "down"):
        channel_setup.move_rule(rule, direction, actor=request.user, request=request)
    return redirect(f"{reverse('servicerequests:rule_list')}#rule-{rule.pk}")


@require_POST
@capability_required(MANAGE)
def rule_toggle(request, pk):
    rule = get_object_or_404(RoutingRule, pk=pk)
    saved = channel_setup.update_rule(
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


@capability_required(MANAGE)
def topic_edit(request, pk=None):
    """Add (no ``pk``) or edit a support topic."""
    topic = get_object_or_404(SupportTopic, pk=pk) if pk else None
    form = SupportTopicForm(request.POST if request.method == "POST" else None, instance=topic)
    return _setup_form_page(request, form, "topic", topic)
