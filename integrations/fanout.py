"""Turning recorded events into webhook deliveries, one per (event, subscription that wants it).

Events are written in the transaction of the change they report (``core.events``); this runs
after, in a worker, and marks each event ``fanned_out_at`` in the same transaction as the
deliveries it writes, so an event is fanned out exactly once even if two workers race (rows are
claimed with SKIP LOCKED) or a worker dies halfway (its transaction rolls back).
"""

from collections import defaultdict

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from core.events import absolute_url
from core.models import Event
from customers.models import Customer
from integrations.delivery import queue_batches
from integrations.models import (
    WEBHOOK_TEST_EVENT,
    PsaCompanyMapping,
    PsaConnection,
    WebhookDelivery,
    WebhookSubscription,
)

BATCH = 500


def _iso(moment):
    return moment.isoformat().replace("+00:00", "Z")


def psa_company(psa, customer, mapped):
    """The customer's company in ``psa``; the PSA's default company when it has none."""
    company_id = mapped.get((customer.pk, psa.pk)) if customer is not None else None
    return {
        "psa": psa.name,
        "psa_id": psa.pk,
        "company_id": company_id or psa.default_company_id,
        "is_default": company_id is None,
    }


def envelope(
    *,
    event_type,
    occurred_at,
    event_id,
    tenant_id,
    customer,
    subscription,
    psas,
    mapped,
    object_type,
    object_id,
    object_url,
    consolidation_key,
    summary,
    obj,
    test=False,
):
    """The JSON body of one delivery (see docs/psa-integration.md for its fields)."""
    companies = [psa_company(psa, customer, mapped) for psa in psas]
    own = next((c for c in companies if c["psa_id"] == subscription.psa_id), None)
    return {
        "type": event_type,
        "timestamp": _iso(occurred_at),
        "data": {
            "event_id": str(event_id),
            "tenant_id": str(tenant_id) if tenant_id else None,
            "customer": (
                {
                    "tenant_id": str(customer.tenant_id),
                    "name": customer.company_name,
                    "url": absolute_url(
                        reverse("api-v1:customer-detail", args=[customer.tenant_id])
                    ),
                }
                if customer is not None
                else None
            ),
            "psa_company": own,
            "psa_companies": companies,
            "object_type": object_type,
            "object_id": str(object_id),
            "object_url": object_url,
            "consolidation_key": consolidation_key,
            "summary": summary,
            "object": obj,
            "test": test,
        },
    }


def _active_subscriptions():
    subscriptions = list(WebhookSubscription.objects.filter(is_active=True))
    filters = defaultdict(set)
    through = WebhookSubscription.customers.through
    for subscription_id, customer_id in through.objects.filter(
        webhooksubscription__in=subscriptions
    ).values_list("webhooksubscription_id", "customer_id"):
        filters[subscription_id].add(customer_id)
    return subscriptions, filters


def _wants(subscription, customer_filter, event_type, customer):
    if event_type not in subscription.event_types:
        return False
    if not customer_filter:
        return True
    # A customer filter means "only these customers": partner-wide events are left out.
    return customer is not None and customer.pk in customer_filter


def fan_out_pending(batch=BATCH):
    """Write the deliveries for up to ``batch`` events not fanned out yet. Returns their ids."""
    with transaction.atomic():
        pending = list(
            Event.objects.filter(fanned_out_at__isnull=True)
            .order_by("pk")
            .select_for_update(skip_locked=True)[:batch]
        )
        if not pending:
            return []
        subscriptions, filters = _active_subscriptions()
        deliveries = []
        if subscriptions:
            tenant_ids = {event.tenant_id for event in pending if event.tenant_id}
            customers = {
                customer.tenant_id: customer
                for customer in Customer.objects.filter(tenant_id__in=tenant_ids)
            }
            psas = list(PsaConnection.objects.filter(is_active=True))
            mapped = {
                (customer_id, psa_id): company_id
                for customer_id, psa_id, company_id in PsaCompanyMapping.objects.filter(
                    customer__in=customers.values(), psa__in=psas
                ).values_list("customer_id", "psa_id", "company_id")
            }
            for event in pending:
                customer = customers.get(event.tenant_id)
                for subscription in subscriptions:
                    if not _wants(subscription, filters[subscription.pk], event.type, customer):
                        continue
                    deliveries.append(
                        WebhookDelivery(
                            subscription=subscription,
                            event=event,
                            event_type=event.type,
                            payload=envelope(
                                event_type=event.type,
                                occurred_at=event.occurred_at,
                                event_id=event.event_id,
                                tenant_id=event.tenant_id,
                                customer=customer,
                                subscription=subscription,
                                psas=psas,
                                mapped=mapped,
                                object_type=event.object_type,
                                object_id=event.object_id,
                                object_url=_absolute(event.object_url),
                                consolidation_key=event.consolidation_key,
                                summary=event.summary,
                                obj=event.payload,
                            ),
                        )
                    )
            WebhookDelivery.objects.bulk_create(deliveries, batch_size=500)
        Event.objects.filter(pk__in=[event.pk for event in pending]).update(
            fanned_out_at=timezone.now()
        )
        delivery_ids = [delivery.pk for delivery in deliveries]
        receivers = [delivery.subscription_id for delivery in deliveries]
        if receivers:
            transaction.on_commit(lambda: queue_batches(receivers))
    return delivery_ids


def _absolute(url):
    return absolute_url(url) if url.startswith("/") else url


def create_test_delivery(subscription):
    """A ``webhook.test`` delivery with a sample incident, written now and sent by a worker."""
    psas = list(PsaConnection.objects.filter(is_active=True))
    now = timezone.now()
    return WebhookDelivery.objects.create(
        subscription=subscription,
        event_type=WEBHOOK_TEST_EVENT,
        payload=envelope(
            event_type=WEBHOOK_TEST_EVENT,
            occurred_at=now,
            event_id="00000000-0000-0000-0000-000000000000",
            tenant_id=None,
            customer=None,
            subscription=subscription,
            psas=psas,
            mapped={},
            object_type="incident",
            object_id="EX000000",
            object_url=absolute_url("/api/v1/incidents/EX000000/"),
            consolidation_key="test:EX000000",
            summary="A test event from the Partner Support Portal.",
            obj={"microsoft_id": "EX000000", "title": "Test event", "status": "serviceDegradation"},
            test=True,
        ),
    )
