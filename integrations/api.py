"""The integrations API: webhook subscriptions and their delivery log, PSA connections, and each
customer's company id per PSA.

Signing secrets and receiver credentials are write-only: a generated signing secret is returned
once, in the response that creates or rotates it, and never again.
"""

import django_filters
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.roles import Capability
from accounts.scopes import ApiResource
from core.api import NoDeleteViewSet, through_service
from core.filters import IntegerFilter
from core.incremental import ModifiedSinceFilterSet
from core.models import EventTypeChoices
from core.openapi import EXAMPLE_API, examples
from core.pagination import SyncCursorPagination
from core.urlguard import http_url_error
from customers.models import Customer
from customers.serializers import CustomerTenantField
from integrations import services
from integrations.models import (
    PsaCompanyMapping,
    PsaConnection,
    PsaKindChoices,
    WebhookAttempt,
    WebhookAuthChoices,
    WebhookDelivery,
    WebhookDeliveryStateChoices,
    WebhookSubscription,
)

MANAGE = Capability.MANAGE_INTEGRATIONS
SYNC_NOTE = (
    "Ordered by last modification, oldest first, with cursor pagination. For incremental sync, "
    "pass `modified_since` and follow `next`."
)


# --- deliveries (the log) ------------------------------------------------------------------


class WebhookAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = [
            "number",
            "started_at",
            "duration_ms",
            "status_code",
            "outcome",
            "response_excerpt",
            "error",
        ]
        read_only_fields = fields


DELIVERY_EXAMPLE = {
    "url": f"{EXAMPLE_API}/webhook-deliveries/311/",
    "id": 311,
    "subscription": 3,
    "message_id": "msg_5f0c2a9e8b7d4c1fa3e26b9d0c4e7a12",
    "event_id": "6f1c0e7a-2b4d-4c8e-9a1f-3d5e7b9c0a2f",
    "event_type": "incident.updated",
    "state": "delivered",
    "attempts": 1,
    "next_attempt_at": "2025-11-27T09:05:02Z",
    "delivered_at": "2025-11-27T09:05:02Z",
    "last_status_code": 204,
    "last_error": "",
    "created_at": "2025-11-27T09:05:01Z",
    "modified_at": "2025-11-27T09:05:02Z",
    "payload": {
        "type": "incident.updated",
        "timestamp": "2025-11-27T09:05:00Z",
        "data": {
            "event_id": "6f1c0e7a-2b4d-4c8e-9a1f-3d5e7b9c0a2f",
            "tenant_id": "6babcaad-604b-40ac-a9d7-9fd97c0b779f",
            "object_type": "incident",
            "object_id": "EX123456",
            "consolidation_key": "incident:EX123456:6babcaad-604b-40ac-a9d7-9fd97c0b779f",
        },
    },
    "attempt_log": [
        {
            "number": 1,
            "started_at": "2025-11-27T09:05:02Z",
            "duration_ms": 84,
            "status_code": 204,
            "outcome": "success",
            "response_excerpt": "",
            "error": "",
        }
    ],
}


@examples("An incident update, delivered", response=DELIVERY_EXAMPLE)
class WebhookDeliverySerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api-v1:webhook-delivery-detail")
    event_id = serializers.SerializerMethodField(
        help_text="The event's stable id (null for tests)."
    )
    attempt_log = WebhookAttemptSerializer(many=True, read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "url",
            "id",
            "subscription",
            "message_id",
            "event_id",
            "event_type",
            "state",
            "attempts",
            "next_attempt_at",
            "delivered_at",
            "last_status_code",
            "last_error",
            "created_at",
            "modified_at",
            "payload",
            "attempt_log",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "message_id": {"help_text": "The `webhook-id` header: the same on every retry."},
            "payload": {"help_text": "The JSON body, exactly as signed and sent."},
        }

    def get_event_id(self, delivery) -> str | None:
        return str(delivery.event.event_id) if delivery.event_id else None


# --- webhook subscriptions ------------------------------------------------------------------


SUBSCRIPTION_REQUEST = {
    "name": "ConnectWise PSA",
    "target_url": "https://psa.example.com/hooks/microsoft",
    "event_types": ["incident.created", "incident.updated", "incident.resolved"],
    "psa": 1,
    "customers": [],
    "is_active": True,
    "auth_type": "bearer",
    "auth_secret": "token-the-receiver-expects",
}
SUBSCRIPTION_RESPONSE = {
    "url": f"{EXAMPLE_API}/webhooks/3/",
    "id": 3,
    "name": "ConnectWise PSA",
    "target_url": "https://psa.example.com/hooks/microsoft",
    "event_types": ["incident.created", "incident.resolved", "incident.updated"],
    "psa": 1,
    "customers": [],
    "is_active": True,
    "auth_type": "bearer",
    "auth_username": "",
    "has_auth_secret": True,
    "consecutive_failures": 0,
    "failing_since": None,
    "last_success_at": "2025-11-27T09:05:02Z",
    "last_error": "",
    "disabled_at": None,
    "disabled_reason": "",
    "created_at": "2025-11-20T14:00:00Z",
    "modified_at": "2025-11-20T14:00:00Z",
}


@examples(
    "A ConnectWise subscription", request=SUBSCRIPTION_REQUEST, response=SUBSCRIPTION_RESPONSE
)
class WebhookSubscriptionSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api-v1:webhook-detail")
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EventTypeChoices.choices),
        allow_empty=False,
        help_text="The events this receiver wants.",
    )
    customers = CustomerTenantField(
        many=True,
        required=False,
        help_text=(
            "Tenant ids: only events about these customers. Empty: every customer and "
            "partner-wide events."
        ),
    )
    psa = serializers.PrimaryKeyRelatedField(
        queryset=PsaConnection.objects.all(),
        allow_null=True,
        required=False,
        help_text="A PSA connection's id: events carry this PSA's company id as `psa_company`.",
    )
    secret = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        help_text=(
            "The signing secret (`whsec_` + base64 of at least 24 bytes). Leave it out to have "
            "one generated (32 random bytes); it is returned once, as `signing_secret`, in the "
            "create response."
        ),
    )
    auth_secret = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        help_text="The password (basic) or token (bearer) the receiver expects. Leave it out to "
        "keep the stored one, unless `target_url` moves to another origin (scheme, host or "
        "port): the stored one is never sent to a new host, so such a change needs it again.",
    )
    has_auth_secret = serializers.SerializerMethodField(
        help_text="Whether a password or token is stored (it is never returned)."
    )

    class Meta:
        model = WebhookSubscription
        fields = [
            "url",
            "id",
            "name",
            "target_url",
            "event_types",
            "psa",
            "customers",
            "is_active",
            "auth_type",
            "auth_username",
            "auth_secret",
            "has_auth_secret",
            "secret",
            "consecutive_failures",
            "failing_since",
            "last_success_at",
            "last_error",
            "disabled_at",
            "disabled_reason",
            "created_at",
            "modified_at",
        ]
        read_only_fields = [
            "id",
            "consecutive_failures",
            "failing_since",
            "last_success_at",
            "last_error",
            "disabled_at",
            "disabled_reason",
            "created_at",
            "modified_at",
        ]
        extra_kwargs = {
            "target_url": {"help_text": "Where events are POSTed. Redirects are not followed."},
            "is_active": {
                "help_text": "Inactive subscriptions get no new events; switching one back on "
                "sends what waited."
            },
        }

    def get_has_auth_secret(self, subscription) -> bool:
        return bool(subscription.auth_secret_encrypted)

    def validate_target_url(self, value):
        error = http_url_error(value)
        if error:
            raise serializers.ValidationError(error)
        return value

    def validate_event_types(self, value):
        return sorted(set(value))

    def validate_secret(self, value):
        error = services.check_secret(value)
        if error:
            raise serializers.ValidationError(error)
        return value

    def validate(self, attrs):
        def current(name, default=""):
            return attrs[name] if name in attrs else getattr(self.instance, name, default)

        errors = services.check_auth(
            current("auth_type", WebhookAuthChoices.NONE),
            current("auth_username"),
            attrs.get("auth_secret", ""),
            has_secret=bool(self.instance and self.instance.auth_secret_encrypted),
        )
        if errors:
            raise serializers.ValidationError(errors)
        if self.instance is not None and attrs.get("secret"):
            raise serializers.ValidationError(
                {"secret": ["Rotate the secret with POST …/rotate-secret/ instead."]}
            )
        return attrs

    def create(self, validated_data):
        request = self.context["request"]
        customers = validated_data.pop("customers", [])
        secret = validated_data.pop("secret", "")
        auth_secret = validated_data.pop("auth_secret", "")
        subscription, secret = through_service(
            services.create_subscription,
            actor=request.user,
            data=validated_data,
            customers=customers,
            secret=secret,
            auth_secret=auth_secret,
            request=request,
        )
        subscription.signing_secret = secret
        return subscription

    def update(self, instance, validated_data):
        request = self.context["request"]
        customers = validated_data.pop("customers", None)
        validated_data.pop("secret", None)
        auth_secret = validated_data.pop("auth_secret", "")
        return through_service(
            services.update_subscription,
            instance,
            actor=request.user,
            data=validated_data,
            customers=customers,
            auth_secret=auth_secret,
            request=request,
        )


@examples(
    "Created, with its secret",
    request=SUBSCRIPTION_REQUEST,
    response={
        **SUBSCRIPTION_RESPONSE,
        "signing_secret": "whsec_uth3nrcUgKdNSBH1RgGGfEWDdFRAtJXxOcU9VL7E1PA=",
    },
)
class WebhookSubscriptionCreatedSerializer(WebhookSubscriptionSerializer):
    signing_secret = serializers.CharField(
        read_only=True,
        help_text="The signing secret, shown this once. Store it in the receiver.",
    )

    class Meta(WebhookSubscriptionSerializer.Meta):
        fields = [*WebhookSubscriptionSerializer.Meta.fields, "signing_secret"]


@examples(
    "Rotated",
    response={
        "signing_secret": "whsec_s4IqFjdQDjWIltzP/xoIR/JDO359Nj7ieYgNwkOuJ4k=",
        "previous_secret_valid_until": "2025-11-28T09:05:00Z",
    },
)
class RotatedSecretSerializer(serializers.Serializer):
    signing_secret = serializers.CharField(help_text="The new signing secret, shown this once.")
    previous_secret_valid_until = serializers.DateTimeField(
        help_text="Until then, deliveries carry signatures with both the old and the new secret."
    )


class WebhookFilterSet(ModifiedSinceFilterSet):
    is_active = django_filters.BooleanFilter(help_text="Only active (or only inactive) ones.")

    class Meta:
        model = WebhookSubscription
        fields = ["is_active", "modified_since"]


@extend_schema(tags=["webhooks"])
@extend_schema_view(
    list=extend_schema(summary="List webhook subscriptions", description=SYNC_NOTE),
    retrieve=extend_schema(summary="Get a webhook subscription"),
    create=extend_schema(
        summary="Subscribe a receiver to events",
        description=(
            "Deliveries are signed per the Standard Webhooks specification (`webhook-id`, "
            "`webhook-timestamp`, `webhook-signature`). The response holds `signing_secret` "
            "this once."
        ),
        responses={201: WebhookSubscriptionCreatedSerializer},
    ),
    update=extend_schema(summary="Replace a webhook subscription"),
    partial_update=extend_schema(summary="Update a webhook subscription"),
)
class WebhookSubscriptionViewSet(NoDeleteViewSet):
    """Outbound webhooks. Global admins only; subscriptions are switched off, never deleted."""

    api_resource = ApiResource.WEBHOOKS
    required_capabilities = {"read": MANAGE, "write": MANAGE}
    serializer_class = WebhookSubscriptionSerializer
    filterset_class = WebhookFilterSet
    pagination_class = SyncCursorPagination
    lookup_value_regex = "[0-9]+"

    def get_queryset(self):
        return WebhookSubscription.objects.prefetch_related("customers")

    def get_serializer_class(self):
        if self.action == "create":
            return WebhookSubscriptionCreatedSerializer
        return super().get_serializer_class()

    @extend_schema(
        summary="Rotate the signing secret",
        description=(
            "A new secret signs from now on; the old one keeps signing too (two signatures in "
            "`webhook-signature`) for `WEBHOOK_SECRET_ROTATION_GRACE_HOURS`, so the receiver "
            "can switch without losing an event."
        ),
        request=None,
        responses={200: RotatedSecretSerializer},
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        subscription = self.get_object()
        secret = services.rotate_secret(subscription, actor=request.user, request=request)
        subscription.refresh_from_db()
        data = {
            "signing_secret": secret,
            "previous_secret_valid_until": subscription.previous_secret_expires_at,
        }
        return Response(RotatedSecretSerializer(data).data)

    @extend_schema(
        summary="Send a test event",
        description="Queues a `webhook.test` delivery; follow its `url` to see the outcome.",
        request=None,
        responses={202: WebhookDeliverySerializer},
    )
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        subscription = self.get_object()
        delivery = services.send_test_event(subscription, actor=request.user, request=request)
        serializer = WebhookDeliverySerializer(delivery, context=self.get_serializer_context())
        return Response(serializer.data, status=status.HTTP_202_ACCEPTED)


# --- deliveries -----------------------------------------------------------------------------


class WebhookDeliveryFilterSet(ModifiedSinceFilterSet):
    subscription = IntegerFilter(
        field_name="subscription_id", help_text="A webhook subscription's id."
    )
    state = django_filters.ChoiceFilter(
        choices=WebhookDeliveryStateChoices.choices, help_text="Where the delivery stands."
    )
    event_type = django_filters.CharFilter(help_text="For example `incident.updated`.")

    class Meta:
        model = WebhookDelivery
        fields = ["subscription", "state", "event_type", "modified_since"]


@extend_schema(tags=["webhooks"])
@extend_schema_view(
    list=extend_schema(summary="List webhook deliveries", description=SYNC_NOTE),
    retrieve=extend_schema(summary="Get a webhook delivery with its attempts"),
)
class WebhookDeliveryViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """The delivery log: what was sent where, each attempt's status, duration and response."""

    api_resource = ApiResource.WEBHOOKS
    required_capabilities = {"read": MANAGE, "write": MANAGE}
    serializer_class = WebhookDeliverySerializer
    filterset_class = WebhookDeliveryFilterSet
    pagination_class = SyncCursorPagination
    lookup_value_regex = "[0-9]+"

    def get_queryset(self):
        return WebhookDelivery.objects.select_related("event").prefetch_related("attempt_log")

    @extend_schema(
        summary="Redeliver",
        description="Sends the delivery again now, with the same `webhook-id`.",
        request=None,
        responses={202: WebhookDeliverySerializer},
    )
    @action(detail=True, methods=["post"])
    def redeliver(self, request, pk=None):
        delivery = services.redeliver(self.get_object(), actor=request.user, request=request)
        serializer = self.get_serializer(delivery)
        return Response(serializer.data, status=status.HTTP_202_ACCEPTED)


# --- PSA connections and company mappings ----------------------------------------------------


@examples(
    "ConnectWise",
    request={
        "name": "ConnectWise PSA",
        "kind": "connectwise",
        "default_company_id": "CatchAll",
        "is_active": True,
    },
    response={
        "url": f"{EXAMPLE_API}/psa-connections/1/",
        "id": 1,
        "name": "ConnectWise PSA",
        "kind": "connectwise",
        "default_company_id": "CatchAll",
        "is_active": True,
        "created_at": "2025-11-20T14:00:00Z",
        "modified_at": "2025-11-20T14:00:00Z",
    },
)
class PsaConnectionSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api-v1:psa-connection-detail")
    kind = serializers.ChoiceField(choices=PsaKindChoices.choices)

    class Meta:
        model = PsaConnection
        fields = [
            "url",
            "id",
            "name",
            "kind",
            "default_company_id",
            "is_active",
            "created_at",
            "modified_at",
        ]
        read_only_fields = ["id", "created_at", "modified_at"]

    def create(self, validated_data):
        request = self.context["request"]
        return through_service(
            services.save_psa, None, actor=request.user, data=validated_data, request=request
        )

    def update(self, instance, validated_data):
        request = self.context["request"]
        return through_service(
            services.save_psa, instance, actor=request.user, data=validated_data, request=request
        )


class PsaConnectionFilterSet(ModifiedSinceFilterSet):
    kind = django_filters.ChoiceFilter(choices=PsaKindChoices.choices, help_text="The product.")
    is_active = django_filters.BooleanFilter(help_text="Only active (or only inactive) ones.")

    class Meta:
        model = PsaConnection
        fields = ["kind", "is_active", "modified_since"]


@extend_schema(tags=["psa"])
@extend_schema_view(
    list=extend_schema(summary="List PSA connections", description=SYNC_NOTE),
    retrieve=extend_schema(summary="Get a PSA connection"),
    create=extend_schema(summary="Add a PSA connection"),
    update=extend_schema(summary="Replace a PSA connection"),
    partial_update=extend_schema(summary="Update a PSA connection"),
)
class PsaConnectionViewSet(NoDeleteViewSet):
    """The PSAs the partner runs. Support staff read; Global admins change them."""

    api_resource = ApiResource.PSA
    required_capabilities = {"read": Capability.VIEW_SUPPORT, "write": MANAGE}
    serializer_class = PsaConnectionSerializer
    filterset_class = PsaConnectionFilterSet
    pagination_class = SyncCursorPagination
    lookup_value_regex = "[0-9]+"

    def get_queryset(self):
        return PsaConnection.objects.all()


@examples(
    "Contoso in ConnectWise",
    request={
        "customer": "6babcaad-604b-40ac-a9d7-9fd97c0b779f",
        "psa": 1,
        "company_id": "19283",
    },
    response={
        "url": f"{EXAMPLE_API}/psa-mappings/12/",
        "id": 12,
        "customer": "6babcaad-604b-40ac-a9d7-9fd97c0b779f",
        "psa": 1,
        "company_id": "19283",
        "created_at": "2025-11-20T14:00:00Z",
        "modified_at": "2025-11-20T14:00:00Z",
    },
)
class PsaCompanyMappingSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api-v1:psa-mapping-detail")
    customer = CustomerTenantField(help_text="The customer's tenant id.")
    psa = serializers.PrimaryKeyRelatedField(
        queryset=PsaConnection.objects.all(), help_text="A PSA connection's id."
    )

    class Meta:
        model = PsaCompanyMapping
        fields = ["url", "id", "customer", "psa", "company_id", "created_at", "modified_at"]
        read_only_fields = ["id", "created_at", "modified_at"]
        extra_kwargs = {"company_id": {"help_text": "The company (or client) id in that PSA."}}

    def validate_company_id(self, value):
        value = value.strip()
        if not value:
            raise serializers.ValidationError("Enter the company id.")
        return value

    def validate(self, attrs):
        if self.instance is not None:
            for field in ("customer", "psa"):
                if field in attrs and attrs[field] != getattr(self.instance, field):
                    raise serializers.ValidationError(
                        {field: ["Cannot change; delete this mapping and create another."]}
                    )
        elif PsaCompanyMapping.objects.filter(
            customer=attrs["customer"], psa=attrs["psa"]
        ).exists():
            raise serializers.ValidationError(
                {"psa": ["This customer already has a company id in this PSA."]}
            )
        return attrs

    def _save(self, customer, psa, company_id):
        request = self.context["request"]
        through_service(
            services.set_company_ids,
            customer,
            actor=request.user,
            company_ids={psa: company_id},
            request=request,
        )
        return PsaCompanyMapping.objects.get(customer=customer, psa=psa)

    def create(self, validated_data):
        return self._save(
            validated_data["customer"], validated_data["psa"], validated_data["company_id"]
        )

    def update(self, instance, validated_data):
        company_id = validated_data.get("company_id", instance.company_id)
        return self._save(instance.customer, instance.psa, company_id)


class PsaCompanyMappingFilterSet(ModifiedSinceFilterSet):
    customer = django_filters.UUIDFilter(
        field_name="customer__tenant_id", help_text="A customer's tenant id."
    )
    psa = IntegerFilter(field_name="psa_id", help_text="A PSA connection's id.")

    class Meta:
        model = PsaCompanyMapping
        fields = ["customer", "psa", "modified_since"]


@extend_schema(tags=["psa"])
@extend_schema_view(
    list=extend_schema(
        summary="List customers' PSA company ids",
        description=f"{SYNC_NOTE} Customers without a mapping use the PSA's default company.",
    ),
    retrieve=extend_schema(summary="Get a PSA company mapping"),
    create=extend_schema(summary="Map a customer to a PSA company"),
    update=extend_schema(summary="Replace a PSA company mapping"),
    partial_update=extend_schema(summary="Change a customer's company id"),
    destroy=extend_schema(
        summary="Remove a PSA company mapping",
        description="The customer's events then carry the PSA's default company.",
        responses={204: OpenApiResponse(description="Removed.")},
    ),
)
class PsaCompanyMappingViewSet(NoDeleteViewSet, mixins.DestroyModelMixin):
    """Each customer's company id per PSA. Support staff read; admin agents and Global admins
    change them. Every change tells subscribed PSAs (``customer.updated``)."""

    api_resource = ApiResource.PSA
    required_capabilities = {"read": Capability.VIEW_SUPPORT, "write": Capability.MANAGE_CUSTOMERS}
    serializer_class = PsaCompanyMappingSerializer
    filterset_class = PsaCompanyMappingFilterSet
    pagination_class = SyncCursorPagination
    lookup_value_regex = "[0-9]+"

    def get_queryset(self):
        customers = Customer.objects.visible_to(self.request.user)
        return PsaCompanyMapping.objects.filter(customer__in=customers).select_related(
            "customer", "psa"
        )

    def perform_destroy(self, instance):
        services.set_company_ids(
            instance.customer,
            actor=self.request.user,
            company_ids={instance.psa: ""},
            request=self.request,
        )
