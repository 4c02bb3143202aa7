"""Integrations pages: webhook subscriptions with their delivery log, PSA connections, and each
customer's company id in each PSA.

Every write goes through ``integrations.services`` (audited). Secrets are shown once, on the
response to the POST that made them, and never again.
"""

import json
from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Count, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.permissions import capability_required
from accounts.roles import Capability
from core.forms import apply_errors
from core.models import EventTypeChoices
from customers.models import Customer
from integrations import sending as webhook_sending
from integrations import services
from integrations.forms import (
    CustomerPsaCompaniesForm,
    DeliveryFilterForm,
    PsaConnectionForm,
    WebhookSubscriptionForm,
)
from integrations.models import (
    PsaConnection,
    WebhookAttempt,
    WebhookAuthChoices,
    WebhookDelivery,
    WebhookDeliveryStateChoices,
    WebhookSubscription,
)

MANAGE = Capability.MANAGE_INTEGRATIONS
State = WebhookDeliveryStateChoices
IN_FLIGHT = [State.PENDING, State.SENDING]
DELIVERY_PAGE_SIZE = 25
CUSTOMERS_SHOWN = 20
# The delivery page reloads itself while a delivery is about to go out (not while it waits
# hours for a retry, or for a disabled subscription to come back).
REFRESH_SECONDS = 2
REFRESH_HORIZON = timedelta(minutes=1)
SECRET_COLUMNS = ("secret_encrypted", "previous_secret_encrypted", "auth_secret_encrypted")


def _subscriptions():
    return WebhookSubscription.objects.select_related("psa").defer(*SECRET_COLUMNS)


def _get_subscription(pk):
    return get_object_or_404(_subscriptions(), pk=pk)


def _count(queryset, column):
    """A correlated COUNT(*) subquery, 0 when there are no rows."""
    counted = queryset.order_by().values(column).annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


# --- webhook subscriptions ------------------------------------------------------------------


@capability_required(MANAGE)
def webhook_list(request):
    through = WebhookSubscription.customers.through
    subscriptions = list(
        _subscriptions()
        .annotate(
            pending_count=_count(
                WebhookDelivery.objects.filter(subscription=OuterRef("pk"), state__in=IN_FLIGHT),
                "subscription",
            ),
            customer_count=_count(
                through.objects.filter(webhooksubscription=OuterRef("pk")), "webhooksubscription"
            ),
        )
        .order_by("name", "pk")
    )
    # A subscription that was failing when it was switched off was switched off by the worker
    # (or by an admin giving up on it): either way someone has to look at the receiver.
    return render(
        request,
        "integrations/webhook_list.html",
        {
            "subscriptions": subscriptions,
            "disabled": [s for s in subscriptions if not s.is_active and s.is_failing],
            "failing": [s for s in subscriptions if s.is_active and s.is_failing],
            "event_type_count": len(EventTypeChoices.values),
        },
    )


@never_cache
@capability_required(MANAGE)
def webhook_create(request):
    form = WebhookSubscriptionForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        subscription, secret = services.create_subscription(
            actor=request.user,
            data=form.service_data(),
            customers=form.cleaned_data["customers"],
            secret=form.cleaned_data["secret"],
            auth_secret=form.cleaned_data["auth_secret"],
            request=request,
        )
        # Rendered, not redirected to: the secret exists only in this response.
        return render(
            request,
            "integrations/webhook_secret.html",
            {"subscription": subscription, "secret": secret, "rotated": False},
        )
    return render(request, "integrations/webhook_form.html", {"form": form, "subscription": None})


@capability_required(MANAGE)
def webhook_edit(request, pk):
    subscription = get_object_or_404(WebhookSubscription, pk=pk)
    form = WebhookSubscriptionForm(
        request.POST if request.method == "POST" else None, instance=subscription
    )
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.update_subscription(
                subscription,
                actor=request.user,
                data=form.service_data(),
                customers=form.cleaned_data["customers"],
                auth_secret=form.cleaned_data["auth_secret"],
                request=request,
            )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("%(name)s is saved.") % {"name": saved})
            return redirect("integrations:webhook_detail", pk=saved.pk)
    # The form's validation changed the instance in memory: show the stored name.
    subscription.refresh_from_db()
    return render(
        request,
        "integrations/webhook_form.html",
        {"form": form, "subscription": subscription},
    )


@capability_required(MANAGE)
def webhook_detail(request, pk):
    subscription = _get_subscription(pk)
    now = timezone.now()
    filter_form = DeliveryFilterForm(request.GET or None)
    state = filter_form.cleaned_data["state"] if filter_form.is_valid() else ""
    deliveries = subscription.deliveries.defer("payload").order_by("-created_at", "-pk")
    if state:
        deliveries = deliveries.filter(state=state)
    last_attempt = WebhookAttempt.objects.filter(delivery=OuterRef("pk")).order_by("-number")
    deliveries = deliveries.annotate(
        last_duration_ms=Subquery(last_attempt.values("duration_ms")[:1])
    )
    page = Paginator(deliveries, DELIVERY_PAGE_SIZE).get_page(request.GET.get("page"))
    customers = list(
        subscription.customers.only("tenant_id", "company_name").order_by("company_name")[
            : CUSTOMERS_SHOWN + 1
        ]
    )
    customer_total = (
        subscription.customers.count() if len(customers) > CUSTOMERS_SHOWN else len(customers)
    )
    return render(
        request,
        "integrations/webhook_detail.html",
        {
            "subscription": subscription,
            "customers": customers[:CUSTOMERS_SHOWN],
            "customer_total": customer_total,
            "previous_secret_until": (
                subscription.previous_secret_expires_at
                if subscription.previous_secret_expires_at
                and subscription.previous_secret_expires_at > now
                else None
            ),
            "filter_form": filter_form,
            "state": state,
            "page": page,
            "query": f"state={state}" if state else "",
        },
    )


@require_POST
@capability_required(MANAGE)
def webhook_test(request, pk):
    subscription = _get_subscription(pk)
    if not subscription.is_active:
        messages.error(
            request, _("The subscription is disabled: enable it before sending a test event.")
        )
        return redirect("integrations:webhook_detail", pk=subscription.pk)
    test = services.send_test_event(subscription, actor=request.user, request=request)
    messages.success(request, _("A test event is on its way."))
    return redirect("integrations:delivery_detail", pk=subscription.pk, delivery_pk=test.pk)


@never_cache
@require_POST
@capability_required(MANAGE)
def webhook_rotate_secret(request, pk):
    subscription = _get_subscription(pk)
    secret = services.rotate_secret(subscription, actor=request.user, request=request)
    subscription.refresh_from_db()
    return render(
        request,
        "integrations/webhook_secret.html",
        {"subscription": subscription, "secret": secret, "rotated": True},
    )


@require_POST
@capability_required(MANAGE)
def webhook_toggle(request, pk):
    subscription = _get_subscription(pk)
    saved = services.update_subscription(
        subscription,
        actor=request.user,
        data={"is_active": not subscription.is_active},
        request=request,
    )
    if saved.is_active:
        messages.success(
            request,
            _("%(name)s is enabled; deliveries that waited go out now.") % {"name": saved},
        )
    else:
        messages.success(
            request,
            _("%(name)s is disabled; new events wait until it is enabled.") % {"name": saved},
        )
    return redirect("integrations:webhook_detail", pk=saved.pk)


# --- deliveries -----------------------------------------------------------------------------


def _get_delivery(pk, delivery_pk):
    return get_object_or_404(
        WebhookDelivery.objects.select_related("subscription").defer(
            *(f"subscription__{column}" for column in SECRET_COLUMNS)
        ),
        subscription_id=pk,
        pk=delivery_pk,
    )


def _sent_headers(delivery, attempts):
    """The headers of the last attempt as sent, signature and credentials left out."""
    subscription = delivery.subscription
    last = attempts[-1] if attempts else None
    headers = [
        ("webhook-id", delivery.message_id),
        (
            "webhook-timestamp",
            str(int(last.started_at.timestamp())) if last else _("(not sent yet)"),
        ),
        ("webhook-signature", _("v1,… (not shown)")),
        ("Content-Type", "application/json"),
        ("User-Agent", webhook_sending.USER_AGENT),
    ]
    if subscription.auth_type == WebhookAuthChoices.BEARER:
        headers.append(("Authorization", _("Bearer … (not shown)")))
    elif subscription.auth_type == WebhookAuthChoices.BASIC:
        headers.append(("Authorization", _("Basic … (not shown)")))
    return headers


@capability_required(MANAGE)
def delivery_detail(request, pk, delivery_pk):
    delivery = _get_delivery(pk, delivery_pk)
    attempts = list(delivery.attempt_log.order_by("number"))
    now = timezone.now()
    refresh = delivery.subscription.is_active and (
        delivery.state == State.SENDING
        or (delivery.state == State.PENDING and delivery.next_attempt_at <= now + REFRESH_HORIZON)
    )
    return render(
        request,
        "integrations/delivery_detail.html",
        {
            "subscription": delivery.subscription,
            "delivery": delivery,
            "attempts": attempts,
            "body": json.dumps(
                delivery.payload,
                indent=2,
                sort_keys=True,
                ensure_ascii=False,
                cls=DjangoJSONEncoder,
            ),
            "headers": _sent_headers(delivery, attempts),
            "refresh_seconds": REFRESH_SECONDS if refresh else None,
            "can_redeliver": delivery.state != State.SENDING,
        },
    )


@require_POST
@capability_required(MANAGE)
def delivery_redeliver(request, pk, delivery_pk):
    delivery = _get_delivery(pk, delivery_pk)
    if delivery.state == State.SENDING:
        # Resetting it now would let a second worker send it while the first still is.
        messages.info(request, _("It is being sent right now: wait for this attempt to end."))
    else:
        services.redeliver(delivery, actor=request.user, request=request)
        if delivery.subscription.is_active:
            messages.success(request, _("It is sent again, with the same webhook-id."))
        else:
            messages.warning(
                request,
                _("It goes out again once the subscription is enabled."),
            )
    return redirect("integrations:delivery_detail", pk=pk, delivery_pk=delivery.pk)


# --- PSA connections ------------------------------------------------------------------------


@capability_required(MANAGE)
def psa_list(request):
    psas = PsaConnection.objects.annotate(mapping_count=Count("mappings")).order_by("name", "pk")
    return render(request, "integrations/psa_list.html", {"psas": psas})


def _psa_page(request, psa=None):
    # The form gets its own copy: save_psa compares the stored values with the new ones.
    instance = PsaConnection.objects.get(pk=psa.pk) if psa else None
    form = PsaConnectionForm(request.POST if request.method == "POST" else None, instance=instance)
    if request.method == "POST" and form.is_valid():
        saved = services.save_psa(
            psa, actor=request.user, data=form.service_data(), request=request
        )
        messages.success(request, _("%(name)s is saved.") % {"name": saved})
        return redirect("integrations:psa_list")
    return render(request, "integrations/psa_form.html", {"form": form, "psa": psa})


@capability_required(MANAGE)
def psa_create(request):
    return _psa_page(request)


@capability_required(MANAGE)
def psa_edit(request, pk):
    return _psa_page(request, get_object_or_404(PsaConnection, pk=pk))


# --- a customer's company ids ---------------------------------------------------------------


@capability_required(Capability.VIEW_SUPPORT, write=Capability.MANAGE_CUSTOMERS, form_page=True)
def customer_psa_companies(request, tenant_id):
    customer = get_object_or_404(Customer.objects.visible_to(request.user), tenant_id=tenant_id)
    psas = list(PsaConnection.objects.filter(is_active=True).order_by("name", "pk"))
    current = dict(customer.psa_companies.values_list("psa_id", "company_id"))
    form = CustomerPsaCompaniesForm(
        request.POST if request.method == "POST" else None, psas=psas, current=current
    )
    if request.method == "POST" and form.is_valid():
        changed = services.set_company_ids(
            customer, actor=request.user, company_ids=form.company_ids(), request=request
        )
        if changed:
            messages.success(
                request, _("%(name)s's PSA company ids are saved.") % {"name": customer}
            )
        else:
            messages.info(request, _("Nothing changed."))
        return redirect(customer)
    return render(
        request,
        "integrations/customer_psa_companies.html",
        {
            "customer": customer,
            "form": form,
            "psas": psas,
            "can_manage_integrations": request.user.has_capability(MANAGE),
        },
    )
