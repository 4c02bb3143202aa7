"""The service health API's viewsets: the service catalogue with its worst status across
customers, the per-customer health rows, and the feed sources they come from."""

from django.db.models import (
    Case,
    Count,
    DateTimeField,
    IntegerField,
    Max,
    OuterRef,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Greatest
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException
from rest_framework.response import Response

from accounts.roles import Capability
from accounts.scopes import ApiResource
from core.api import NoDeleteViewSet
from core.incremental import ModifiedSinceFilterSet
from core.openapi import SERVICE_UNAVAILABLE
from core.pagination import PortalCursorPagination, SyncCursorPagination
from customers.models import Customer
from incidents.status import STATUS_SEVERITY, UNKNOWN_SEVERITY
from servicehealth import polling
from servicehealth.api.schema import POLL_QUEUED
from servicehealth.api.serializers import (
    FeedSourceSerializer,
    FeedSourceUpdateSerializer,
    HealthSerializer,
    PollQueuedSerializer,
    ServiceSerializer,
)
from servicehealth.filters import HealthFilterSet, ServiceFilterSet
from servicehealth.models import FeedSource, Service, TenantServiceHealth

HEALTHY_STATUSES = sorted(status for status, severity in STATUS_SEVERITY.items() if severity == 0)


def _severity():
    """``status_severity`` in SQL, so the worst status is picked by the database."""
    return Case(
        *[
            When(status=status, then=Value(severity))
            for status, severity in STATUS_SEVERITY.items()
        ],
        default=Value(UNKNOWN_SEVERITY),
        output_field=IntegerField(),
    )


class WorkersUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The background workers cannot be reached; try again later."
    default_code = "service_unavailable"
    # drf-standardized-errors turns ``wait`` into a Retry-After header, as for throttling.
    wait = 30


class _HealthListViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """A read-only list of service health, for anyone who may see support."""

    required_capabilities = {"read": Capability.VIEW_SUPPORT, "write": Capability.VIEW_SUPPORT}
    api_resource = ApiResource.SERVICE_HEALTH


# --- services ---------------------------------------------------------------------------------


class ServiceCursorPagination(PortalCursorPagination):
    """Oldest change first, counting changes of any customer's status of the service."""

    ordering = ("last_change_at", "pk")


@extend_schema(tags=["service health"])
@extend_schema_view(
    list=extend_schema(
        summary="List services with their worst status",
        description=(
            "Microsoft's services, each with its worst current status across the customers' "
            "feeds and the number of customers it affects, ordered by last change (of the "
            "service or of any customer's status of it), oldest first, with cursor pagination. "
            "For incremental sync, pass `modified_since` and follow `next`."
        ),
    ),
)
class ServiceViewSet(_HealthListViewSet):
    serializer_class = ServiceSerializer
    pagination_class = ServiceCursorPagination
    filterset_class = ServiceFilterSet

    def get_queryset(self):
        customer_health = TenantServiceHealth.objects.filter(
            service=OuterRef("pk"),
            source__customer__in=Customer.objects.visible_to(self.request.user),
        )
        worst = (
            customer_health.annotate(severity=_severity())
            .order_by("-severity", "-updated_at", "-pk")
            .values("status")[:1]
        )
        affected = (
            customer_health.exclude(status__in=HEALTHY_STATUSES)
            .order_by()
            .values("service")
            .annotate(count=Count("source__customer", distinct=True))
            .values("count")
        )
        # What the row shows changes with the service and with any customer's status of it.
        latest_status = (
            customer_health.order_by().values("service").annotate(latest=Max("updated_at"))
        ).values("latest")
        return Service.objects.annotate(
            worst_status=Subquery(worst),
            affected_customers=Coalesce(Subquery(affected), 0),
            last_change_at=Greatest(
                "modified_at",
                Coalesce(Subquery(latest_status, output_field=DateTimeField()), "modified_at"),
                output_field=DateTimeField(),
            ),
        )


# --- health per customer and service ----------------------------------------------------------


class HealthCursorPagination(PortalCursorPagination):
    """Oldest change first, so a PSA polling with ``modified_since`` gets each change once."""

    ordering = ("updated_at", "pk")


@extend_schema(tags=["service health"])
@extend_schema_view(
    list=extend_schema(
        summary="List each customer's service health",
        description=(
            "One row per customer and service, from the customers' own feeds, ordered by the "
            "time the status was set, oldest first, with cursor pagination. For incremental "
            "sync, pass `modified_since` and follow `next`."
        ),
    ),
)
class HealthViewSet(_HealthListViewSet):
    serializer_class = HealthSerializer
    filterset_class = HealthFilterSet
    pagination_class = HealthCursorPagination

    def get_queryset(self):
        return TenantServiceHealth.objects.filter(
            source__customer__in=Customer.objects.visible_to(self.request.user)
        ).select_related("source__customer", "service")


# --- feed sources -----------------------------------------------------------------------------


@extend_schema(tags=["service health"])
@extend_schema_view(
    list=extend_schema(
        summary="List feed sources",
        description=(
            "Ordered by last modification of their settings, oldest first, with cursor "
            "pagination; `modified_since` for incremental sync. Polls do not count as changes."
        ),
    ),
    retrieve=extend_schema(summary="Get a feed source"),
    create=extend_schema(summary="Add a feed source"),
    update=extend_schema(
        summary="Replace a feed source",
        description=(
            "Leave out `client_secret` to keep the stored one, unless `token_url` or `base_url` "
            "moves to another origin: that needs the secret again."
        ),
        responses=FeedSourceSerializer,
    ),
    partial_update=extend_schema(
        summary="Update a feed source",
        description=(
            "Only the fields given change. Moving `token_url` or `base_url` to another origin "
            "needs `client_secret` again."
        ),
        responses=FeedSourceSerializer,
    ),
)
class FeedSourceViewSet(NoDeleteViewSet):
    """The Graph feeds polled for service health and incidents. Global admins only."""

    required_capabilities = {
        "read": Capability.MANAGE_INTEGRATIONS,
        "write": Capability.MANAGE_INTEGRATIONS,
    }
    api_resource = ApiResource.SERVICE_HEALTH
    serializer_class = FeedSourceSerializer
    filterset_class = ModifiedSinceFilterSet
    pagination_class = SyncCursorPagination

    def get_queryset(self):
        return FeedSource.objects.visible_to(self.request.user).select_related("customer")

    def get_serializer_class(self):
        if self.action in ("update", "partial_update"):
            return FeedSourceUpdateSerializer
        return super().get_serializer_class()

    @extend_schema(
        summary="Poll a feed source now",
        description=(
            "Queues a poll of this source for a worker and answers at once. A source that is "
            "being polled already is not polled twice."
        ),
        request=None,
        responses={202: PollQueuedSerializer, 503: SERVICE_UNAVAILABLE},
    )
    @action(detail=True, methods=["post"], serializer_class=PollQueuedSerializer)
    def poll(self, request, pk=None):
        source = self.get_object()
        try:
            polling.queue_poll(source.pk)
        except Exception as exc:  # the broker is down; beat polls the source when it is back
            # The error handler logs it with this traceback (a 5xx is reported like a crash).
            raise WorkersUnavailable from exc
        return Response(
            PollQueuedSerializer({"detail": POLL_QUEUED}).data,
            status=status.HTTP_202_ACCEPTED,
        )
