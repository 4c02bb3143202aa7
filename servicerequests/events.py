"""The events about service requests; each carries the request as the API shows it.

Below the services and the delivery worker, which both record them in the transaction of the
change.
"""

from django.urls import reverse
from django.utils import translation

from core import events
from core.models import EventTypeChoices
from servicerequests.models import ServiceRequest, StatusChoices
from servicerequests.serializers import ServiceRequestSerializer


def request_event(type_, service_request_id, summary):
    """An event carrying the request as ``GET /api/v1/service-requests/<number>/`` shows it now.

    ``summary(service_request)`` gives the event's one-line text."""
    service_request = ServiceRequest.objects.select_related(
        "support_topic", "customer", "channel", "incident", "assignee", "delivery"
    ).get(pk=service_request_id)
    return events.build(
        type=type_,
        summary=summary(service_request),
        object_type="service_request",
        object_id=service_request.number,
        object_url=events.absolute_url(
            reverse("api-v1:service-request-detail", kwargs={"number": service_request.number})
        ),
        consolidation_key=f"servicerequest:{service_request.number}",
        tenant_id=service_request.customer.tenant_id,
        payload=ServiceRequestSerializer(service_request, context=events.api_context()).data,
    )


def record_status_event(service_request_id, previous):
    """Record ``servicerequest.status_changed`` from ``previous`` to the stored status.

    Call it in the transaction that changed the status, and only when it really changed."""

    def summary(service_request):
        # Plain English, like the API: the text travels to PSA tools in whatever language.
        with translation.override("en"):
            return (
                f"{service_request.number}: {StatusChoices(previous).label} → "
                f"{service_request.get_status_display()}"
            )

    events.record(
        [
            request_event(
                EventTypeChoices.SERVICE_REQUEST_STATUS_CHANGED, service_request_id, summary
            )
        ]
    )
