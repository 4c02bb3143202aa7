"""The service health API's serializers: services with their worst status, each customer's
health rows, and the feed sources they come from.

Feed-source writes go through ``servicehealth.services`` (URL checks, audit without the secret).
A feed source's client secret is write-only: no response and no error message ever carries it.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail
from rest_framework.validators import UniqueValidator

from core.api import through_service
from core.openapi import examples
from customers.models import Customer
from incidents.status import status_label, status_severity
from servicehealth import services
from servicehealth.api import schema
from servicehealth.models import FeedSource, Service, TenantServiceHealth

REDACTED = "********"


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


# --- services ---------------------------------------------------------------------------------


@examples("Exchange degraded", response=schema.SERVICE_RESPONSE)
class ServiceSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="graph_id", read_only=True, help_text="Graph's service id.")
    status = serializers.CharField(
        source="worst_status",
        read_only=True,
        allow_null=True,
        help_text=(
            "The worst current status across customers' feeds; null when no customer feed "
            f"reports the service. {schema.STATUS_NOTE}"
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


@examples("Contoso's Exchange", response=schema.HEALTH_RESPONSE)
class HealthSerializer(serializers.ModelSerializer):
    customer = HealthCustomerSerializer(source="source.customer", read_only=True)
    service = HealthServiceSerializer(read_only=True)
    status = serializers.CharField(read_only=True, help_text=schema.STATUS_NOTE)
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


# --- feed sources -----------------------------------------------------------------------------


class CustomerTenantField(serializers.SlugRelatedField):
    """A customer by tenant id, among the customers the caller may see."""

    def __init__(self, **kwargs):
        super().__init__(slug_field="tenant_id", **kwargs)

    def get_queryset(self):
        return Customer.objects.visible_to(self.context["request"].user)


# What polling keeps up to date on a feed source; the API only shows it.
_FEED_SOURCE_STATUS_FIELDS = (
    "next_poll_at",
    "last_polled_at",
    "last_success_at",
    "last_error",
    "access_problem",
    "needs_attention",
    "consecutive_failures",
    "failing_since",
    "created_at",
    "modified_at",
)


def _client_secret_field(help_text):
    """The write-only client secret: never returned, kept as typed (no trimming)."""
    return serializers.CharField(
        write_only=True,
        required=False,
        max_length=1000,
        trim_whitespace=False,
        style={"input_type": "password"},
        help_text=help_text,
    )


@examples(
    "Contoso's feed", request=schema.FEED_SOURCE_REQUEST, response=schema.FEED_SOURCE_RESPONSE
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
    client_secret = _client_secret_field(
        "The app registration's client secret, required with `client_credentials`. "
        "Write-only: it is never returned."
    )
    has_client_secret = serializers.SerializerMethodField()

    class Meta:
        model = FeedSource
        fields = [
            "url",
            "id",
            # The secret right after the client id (name, …, client_id, poll_interval_seconds, …).
            *services.FEED_SOURCE_FIELDS[:6],
            "client_secret",
            "has_client_secret",
            *services.FEED_SOURCE_FIELDS[6:],
            *_FEED_SOURCE_STATUS_FIELDS,
        ]
        read_only_fields = ["id", *_FEED_SOURCE_STATUS_FIELDS]

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


@examples("Poll less often", request={**schema.FEED_SOURCE_EXAMPLE, "poll_interval_seconds": 600})
class FeedSourceUpdateSerializer(FeedSourceSerializer):
    """The same fields; the client secret may be left out to keep the stored one."""

    client_secret = _client_secret_field(
        "A new client secret; leave it out to keep the stored one. Required when `token_url` or "
        "`base_url` moves to another origin (scheme, host or port): the stored secret is never "
        "sent to a new host. Never returned."
    )


@examples("Queued", response={"detail": schema.POLL_QUEUED})
class PollQueuedSerializer(serializers.Serializer):
    detail = serializers.CharField()
