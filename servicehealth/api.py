"""The service health API: the service catalogue with its worst status across customers, the
per-customer health rows, and the feed sources they come from.

Feed-source writes go through ``servicehealth.services`` (URL checks, audit without the secret).
A feed source's client secret is write-only: no response and no error message ever carries it.
"""

import django_filters
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
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, ErrorDetail
from rest_framework.response import Response
from rest_framework.validators import UniqueValidator

from accounts.roles import Capability
from accounts.scopes import ApiResource
from core.api import NoDeleteViewSet, through_service
from core.filters import PortalFilterSet
from core.incremental import ModifiedSinceFilter, ModifiedSinceFilterSet
from core.openapi import EXAMPLE_API, SERVICE_UNAVAILABLE, examples
from core.pagination import PortalCursorPagination, SyncCursorPagination
from customers.models import Customer
from incidents.status import STATUS_SEVERITY, UNKNOWN_SEVERITY, status_label, status_severity
from servicehealth import services, sync
from servicehealth.models import FeedSource, Service, TenantServiceHealth

REDACTED = "********"
HEALTHY_STATUSES = sorted(status for status, severity in STATUS_SEVERITY.items() if severity == 0)
STATUS_NOTE = (
    "Graph's serviceHealthStatus, kept as sent: values Microsoft adds later appear as they are."
)


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


def _redact(errors, secret):
    """The error messages with every occurrence of ``secret`` masked, their codes kept."""
    if isinstance(errors, dict):
        return {key: _redact(value, secret) for key, value in errors.items()}
    if isinstance(errors, list):
        return [_redact(value, secret) for value in errors]
    if secret and secret in str(errors):
        return ErrorDetail(
            str(errors).replace(secret, REDACTED), code=getattr(errors, "code", None)
        )
    return errors


def _through_service(function, *args, secret=None, **kwargs):
    """``through_service``, with errors that never quote the secret."""
    return through_service(
        function, *args, adjust_errors=lambda errors: _redact(errors, secret), **kwargs
    )


class WorkersUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The background workers cannot be reached; try again later."
    default_code = "service_unavailable"
    # drf-standardized-errors turns ``wait`` into a Retry-After header, as for throttling.
    wait = 30


# --- services ---------------------------------------------------------------------------------


@examples(
    "Exchange degraded",
    response={
        "id": "Exchange",
        "name": "Exchange Online",
        "status": "serviceDegradation",
        "status_label": "Service degradation",
        "status_severity": 3,
        "affected_customers": 4,
        "modified_at": "2025-11-27T09:05:00Z",
    },
)
class ServiceSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="graph_id", read_only=True, help_text="Graph's service id.")
    status = serializers.CharField(
        source="worst_status",
        read_only=True,
        allow_null=True,
        help_text=(
            "The worst current status across customers' feeds; null when no customer feed "
            f"reports the service. {STATUS_NOTE}"
        ),
    )
    status_label = serializers.SerializerMethodField()
    status_severity = serializers.SerializerMethodField()
    affected_customers = serializers.IntegerField(
        read_only=True, help_text="Customers for whom the service is not healthy now."
    )
    modified_at = serializers.DateTimeField(
        source="last_change_at",
        read_only=True,
        help_text="The last change of the service or of its status for any customer.",
    )

    class Meta:
        model = Service
        fields = [
            "id",
            "name",
            "status",
            "status_label",
            "status_severity",
            "affected_customers",
            "modified_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_status_label(self, service) -> str | None:
        return None if service.worst_status is None else status_label(service.worst_status)

    @extend_schema_field(
        serializers.IntegerField(
            allow_null=True, help_text="0 (healthy) to 5 (interruption); unknown statuses rank 3."
        )
    )
    def get_status_severity(self, service) -> int | None:
        return None if service.worst_status is None else status_severity(service.worst_status)


class ServiceCursorPagination(PortalCursorPagination):
    """Oldest change first, counting changes of any customer's status of the service."""

    ordering = ("last_change_at", "pk")


class ServiceFilterSet(PortalFilterSet):
    modified_since = ModifiedSinceFilter(field_name="last_change_at")


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
class ServiceViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    required_capabilities = {"read": Capability.VIEW_SUPPORT, "write": Capability.VIEW_SUPPORT}
    api_resource = ApiResource.SERVICE_HEALTH
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


class HealthCustomerSerializer(serializers.ModelSerializer):
    class Meta:
        model = Customer
        fields = ["tenant_id", "company_name"]
        read_only_fields = fields


class HealthServiceSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="graph_id", read_only=True, help_text="Graph's service id.")

    class Meta:
        model = Service
        fields = ["id", "name"]
        read_only_fields = fields


class HealthFilterSet(PortalFilterSet):
    customer = django_filters.UUIDFilter(
        field_name="source__customer__tenant_id", help_text="The customer's tenant id."
    )
    service = django_filters.CharFilter(
        field_name="service__graph_id", help_text="Graph's service id, e.g. `Exchange`."
    )
    status = django_filters.CharFilter(
        help_text="Graph's serviceHealthStatus, e.g. `serviceDegradation`."
    )
    # ``since``: a health row changes only when its status does.
    modified_since = ModifiedSinceFilter(field_name="updated_at")

    class Meta:
        model = TenantServiceHealth
        fields = ["customer", "service", "status", "modified_since"]


@examples(
    "Contoso's Exchange",
    response={
        "customer": {
            "tenant_id": "6babcaad-604b-40ac-a9d7-9fd97c0b779f",
            "company_name": "Contoso Ltd",
        },
        "service": {"id": "Exchange", "name": "Exchange Online"},
        "status": "serviceDegradation",
        "status_label": "Service degradation",
        "since": "2025-11-27T09:05:00Z",
        "modified_at": "2025-11-27T09:05:00Z",
    },
)
class HealthSerializer(serializers.ModelSerializer):
    customer = HealthCustomerSerializer(source="source.customer", read_only=True)
    service = HealthServiceSerializer(read_only=True)
    status = serializers.CharField(read_only=True, help_text=STATUS_NOTE)
    status_label = serializers.CharField(read_only=True)
    since = serializers.DateTimeField(
        source="updated_at", read_only=True, help_text="When the feed last set this status."
    )
    modified_at = serializers.DateTimeField(
        source="updated_at",
        read_only=True,
        help_text="The same as `since` (a row changes only with its status), named as on every "
        "other collection for incremental sync.",
    )

    class Meta:
        model = TenantServiceHealth
        fields = ["customer", "service", "status", "status_label", "since", "modified_at"]
        read_only_fields = fields


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
class HealthViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    required_capabilities = {"read": Capability.VIEW_SUPPORT, "write": Capability.VIEW_SUPPORT}
    api_resource = ApiResource.SERVICE_HEALTH
    serializer_class = HealthSerializer
    filterset_class = HealthFilterSet
    pagination_class = HealthCursorPagination

    def get_queryset(self):
        return TenantServiceHealth.objects.filter(
            source__customer__in=Customer.objects.visible_to(self.request.user)
        ).select_related("source__customer", "service")


# --- feed sources -----------------------------------------------------------------------------


class CustomerTenantField(serializers.SlugRelatedField):
    """A customer by tenant id, among the customers the caller may see."""

    def __init__(self, **kwargs):
        super().__init__(slug_field="tenant_id", **kwargs)

    def get_queryset(self):
        return Customer.objects.visible_to(self.context["request"].user)


FEED_SOURCE_EXAMPLE = {
    "name": "Contoso service health",
    "customer": "6babcaad-604b-40ac-a9d7-9fd97c0b779f",
    "tenant_id": "6babcaad-604b-40ac-a9d7-9fd97c0b779f",
    "base_url": "https://graph.microsoft.com/v1.0",
    "token_url": "https://login.microsoftonline.com/{tenant_id}/oauth2/v2.0/token",
    "client_id": "2f1c7a43-9b7e-4d51-8d0e-3c2a6f4b9e10",
    "poll_interval_seconds": 300,
    "enabled": True,
}


@examples(
    "Contoso's feed",
    request={**FEED_SOURCE_EXAMPLE, "client_secret": "Zx18Q~example-client-secret"},
    response={
        "url": f"{EXAMPLE_API}/feed-sources/7/",
        "id": 7,
        **FEED_SOURCE_EXAMPLE,
        "has_client_secret": True,
        "next_poll_at": "2025-11-27T09:10:00Z",
        "last_polled_at": "2025-11-27T09:05:00Z",
        "last_success_at": "2025-11-27T09:05:00Z",
        "last_error": "",
        "needs_attention": False,
        "consecutive_failures": 0,
        "failing_since": None,
        "created_at": "2025-03-02T10:30:00Z",
        "modified_at": "2025-03-02T10:30:00Z",
    },
)
class FeedSourceSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api-v1:feed-source-detail")
    customer = CustomerTenantField(
        allow_null=True,
        required=False,
        help_text="The customer's tenant id; null for the partner's own tenant.",
    )
    tenant_id = serializers.UUIDField(
        required=False,
        help_text="The Entra tenant whose feed this is; a customer's feed reads its tenant, "
        "filled in when left out.",
        validators=[
            UniqueValidator(
                queryset=FeedSource.objects.all(),
                message="A feed source for this tenant already exists.",
            )
        ],
    )
    client_secret = serializers.CharField(
        write_only=True,
        max_length=1000,
        trim_whitespace=False,
        style={"input_type": "password"},
        help_text="The app registration's client secret. Write-only: it is never returned.",
    )
    has_client_secret = serializers.SerializerMethodField()

    class Meta:
        model = FeedSource
        fields = [
            "url",
            "id",
            "name",
            "customer",
            "tenant_id",
            "base_url",
            "token_url",
            "client_id",
            "client_secret",
            "has_client_secret",
            "poll_interval_seconds",
            "enabled",
            "next_poll_at",
            "last_polled_at",
            "last_success_at",
            "last_error",
            "needs_attention",
            "consecutive_failures",
            "failing_since",
            "created_at",
            "modified_at",
        ]
        read_only_fields = [
            "id",
            "next_poll_at",
            "last_polled_at",
            "last_success_at",
            "last_error",
            "needs_attention",
            "consecutive_failures",
            "failing_since",
            "created_at",
            "modified_at",
        ]

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_has_client_secret(self, source) -> bool:
        return bool(source.client_secret_encrypted)

    def create(self, validated_data):
        request = self.context["request"]
        return _through_service(
            services.create_feed_source,
            actor=request.user,
            request=request,
            secret=validated_data.get("client_secret"),
            **validated_data,
        )

    def update(self, instance, validated_data):
        request = self.context["request"]
        return _through_service(
            services.update_feed_source,
            instance,
            actor=request.user,
            request=request,
            secret=validated_data.get("client_secret"),
            **validated_data,
        )


@examples("Poll less often", request={**FEED_SOURCE_EXAMPLE, "poll_interval_seconds": 600})
class FeedSourceUpdateSerializer(FeedSourceSerializer):
    """The same fields; the client secret may be left out to keep the stored one."""

    client_secret = serializers.CharField(
        write_only=True,
        required=False,
        max_length=1000,
        trim_whitespace=False,
        style={"input_type": "password"},
        help_text=(
            "A new client secret; leave it out to keep the stored one. Required when `token_url` "
            "or `base_url` moves to another origin (scheme, host or port): the stored secret is "
            "never sent to a new host. Never returned."
        ),
    )


@examples("Queued", response={"detail": "A poll of this source has been queued."})
class PollQueuedSerializer(serializers.Serializer):
    detail = serializers.CharField()


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
            sync.queue_poll(source.pk)
        except Exception as exc:  # the broker is down; beat polls the source when it is back
            # The error handler logs it with this traceback (a 5xx is reported like a crash).
            raise WorkersUnavailable from exc
        return Response(
            PollQueuedSerializer({"detail": "A poll of this source has been queued."}).data,
            status=status.HTTP_202_ACCEPTED,
        )
