"""The events about service requests; each carries the request as the API shows it.

Below the services and the delivery worker, which both record them in the transaction of the
change.
"""

from django.urls import reverse
from django.utils import timezone, translation

from core import events
from core.models import EventTypeChoices
from servicerequests.models import ServiceRequest, StatusChoices
from servicerequests.serializers import instance_data

# What the API's representation reads beyond the request's own row.
RELATIONS = ("support_topic", "customer", "channel", "incident", "assignee", "delivery")


def detail_path(service_request):
    return reverse("api-v1:service-request-detail", kwargs={"number": service_request.number})


def representation(service_request, path):
    """``service_request`` (its ``RELATIONS`` loaded) as ``GET /api/v1/service-requests/<number>/``
    shows it, its link (``path``) on the portal's address (an event's payload)."""
    url = events.PortalAddress().build_absolute_uri(path)
    return instance_data(service_request, url, timezone.now())


def on_address(data, service_request, request):
    """``data``, a ``representation`` of ``service_request``, with its link on the address
    ``request`` came to (an API answer): the link is the only part that depends on it."""
    return {**data, "url": request.build_absolute_uri(detail_path(service_request))}


def request_event(type_, service_request, summary):
    """An event carrying ``service_request`` (its ``RELATIONS`` loaded, as they are now) as the
    API shows it. ``summary(service_request)`` gives the event's one-line text."""
    path = detail_path(service_request)
    return events.build(
        type=type_,
        summary=summary(service_request),
        object_type="service_request",
        object_id=service_request.number,
        object_url=events.absolute_url(path),
        consolidation_key=f"servicerequest:{service_request.number}",
        tenant_id=service_request.customer.tenant_id,
        payload=representation(service_request, path),
    )


def record_status_event(service_request_id, previous):
    """Record ``servicerequest.status_changed`` from ``previous`` to the stored status.

    Call it in the transaction that changed the status, and only when it really changed."""
    stored = ServiceRequest.objects.select_related(*RELATIONS).get(pk=service_request_id)
    record_status_event_for(stored, previous)


def record_status_event_for(service_request, previous):
    """``record_status_event`` for a request held as it now is (read in this transaction, its
    ``RELATIONS`` loaded, the change applied)."""

    def summary(changed):
        # Plain English, like the API: the text travels to PSA tools in whatever language.
        with translation.override("en"):
            return (
                f"{changed.number}: {StatusChoices(previous).label} → "
                f"{changed.get_status_display()}"
            )

    event = request_event(EventTypeChoices.SERVICE_REQUEST_STATUS_CHANGED, service_request, summary)
    events.record([event])
