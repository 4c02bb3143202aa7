"""The integrations API's serializers: webhook subscriptions and their delivery log, PSA
connections, and each customer's company id per PSA.

Signing secrets and receiver credentials are write-only: a generated signing secret is returned
once, in the response that creates or rotates it, and never again. Writes go through
``integrations.services``.
"""

from rest_framework import serializers

from core.api import through_service
from core.models import EventTypeChoices
from core.openapi import examples
from core.outbound import http_url_error
from customers.serializers import CustomerTenantField
from integrations import services
from integrations.api import schema
from integrations.models import (
    PsaCompanyMapping,
    PsaConnection,
    PsaKindChoices,
    WebhookAttempt,
    WebhookAuthChoices,
    WebhookDelivery,
    WebhookSubscription,
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


@examples("An incident update, delivered", response=schema.DELIVERY_EXAMPLE)
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


# What the portal keeps up to date on a subscription; the API only shows it.
_SUBSCRIPTION_STATUS_FIELDS = (
    "consecutive_failures",
    "failing_since",
    "last_success_at",
    "last_error",
    "disabled_at",
    "disabled_reason",
    "created_at",
    "modified_at",
)


@examples(
    "A ConnectWise subscription",
    request=schema.SUBSCRIPTION_REQUEST,
    response=schema.SUBSCRIPTION_RESPONSE,
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
            *_SUBSCRIPTION_STATUS_FIELDS,
        ]
        read_only_fields = ["id", *_SUBSCRIPTION_STATUS_FIELDS]
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
    request=schema.SUBSCRIPTION_REQUEST,
    response=schema.SUBSCRIPTION_CREATED_RESPONSE,
)
class WebhookSubscriptionCreatedSerializer(WebhookSubscriptionSerializer):
    signing_secret = serializers.CharField(
        read_only=True,
        help_text="The signing secret, shown this once. Store it in the receiver.",
    )

    class Meta(WebhookSubscriptionSerializer.Meta):
        fields = [*WebhookSubscriptionSerializer.Meta.fields, "signing_secret"]


@examples("Rotated", response=schema.ROTATED_SECRET_RESPONSE)
class RotatedSecretSerializer(serializers.Serializer):
    signing_secret = serializers.CharField(help_text="The new signing secret, shown this once.")
    previous_secret_valid_until = serializers.DateTimeField(
        help_text="Until then, deliveries carry signatures with both the old and the new secret."
    )


# --- PSA connections and company mappings ----------------------------------------------------


@examples(
    "ConnectWise",
    request=schema.PSA_CONNECTION_REQUEST,
    response=schema.PSA_CONNECTION_RESPONSE,
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


@examples(
    "Contoso in ConnectWise",
    request=schema.PSA_MAPPING_REQUEST,
    response=schema.PSA_MAPPING_RESPONSE,
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
