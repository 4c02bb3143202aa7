"""The integrations API's viewsets: webhook subscriptions and their delivery log, PSA
connections, and each customer's company id per PSA. Global admins manage webhooks; support
staff read the PSA setup."""

from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.roles import Capability
from accounts.scopes import ApiResource
from core.api import NoDeleteViewSet
from core.pagination import SyncCursorPagination
from customers.models import Customer
from integrations import services
from integrations.api.schema import SYNC_NOTE
from integrations.api.serializers import (
    PsaCompanyMappingSerializer,
    PsaConnectionSerializer,
    RotatedSecretSerializer,
    WebhookDeliverySerializer,
    WebhookSubscriptionCreatedSerializer,
    WebhookSubscriptionSerializer,
)
from integrations.filters import (
    PsaCompanyMappingFilterSet,
    PsaConnectionFilterSet,
    WebhookDeliveryFilterSet,
    WebhookFilterSet,
)
from integrations.models import (
    PsaCompanyMapping,
    PsaConnection,
    WebhookDelivery,
    WebhookSubscription,
)

MANAGE = Capability.MANAGE_INTEGRATIONS


class _IntegrationsApi:
    """What every viewset here shares: rows found by their integer id, listed for sync."""

    pagination_class = SyncCursorPagination
    lookup_value_regex = "[0-9]+"


class _WebhooksApi(_IntegrationsApi):
    """Webhooks, subscriptions and their deliveries alike, are Global admins' only."""

    api_resource = ApiResource.WEBHOOKS
    required_capabilities = {"read": MANAGE, "write": MANAGE}


# --- webhook subscriptions and deliveries ----------------------------------------------------


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
class WebhookSubscriptionViewSet(_WebhooksApi, NoDeleteViewSet):
    """Outbound webhooks. Global admins only; subscriptions are switched off, never deleted."""

    serializer_class = WebhookSubscriptionSerializer
    filterset_class = WebhookFilterSet

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


@extend_schema(tags=["webhooks"])
@extend_schema_view(
    list=extend_schema(summary="List webhook deliveries", description=SYNC_NOTE),
    retrieve=extend_schema(summary="Get a webhook delivery with its attempts"),
)
class WebhookDeliveryViewSet(
    _WebhooksApi, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """The delivery log: what was sent where, each attempt's status, duration and response."""

    serializer_class = WebhookDeliverySerializer
    filterset_class = WebhookDeliveryFilterSet

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


@extend_schema(tags=["psa"])
@extend_schema_view(
    list=extend_schema(summary="List PSA connections", description=SYNC_NOTE),
    retrieve=extend_schema(summary="Get a PSA connection"),
    create=extend_schema(summary="Add a PSA connection"),
    update=extend_schema(summary="Replace a PSA connection"),
    partial_update=extend_schema(summary="Update a PSA connection"),
)
class PsaConnectionViewSet(_IntegrationsApi, NoDeleteViewSet):
    """The PSAs the partner runs. Support staff read; Global admins change them."""

    api_resource = ApiResource.PSA
    required_capabilities = {"read": Capability.VIEW_SUPPORT, "write": MANAGE}
    serializer_class = PsaConnectionSerializer
    filterset_class = PsaConnectionFilterSet

    def get_queryset(self):
        return PsaConnection.objects.all()


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
class PsaCompanyMappingViewSet(_IntegrationsApi, NoDeleteViewSet, mixins.DestroyModelMixin):
    """Each customer's company id per PSA. Support staff read; admin agents and Global admins
    change them. Every change tells subscribed PSAs (``customer.updated``)."""

    api_resource = ApiResource.PSA
    required_capabilities = {"read": Capability.VIEW_SUPPORT, "write": Capability.MANAGE_CUSTOMERS}
    serializer_class = PsaCompanyMappingSerializer
    filterset_class = PsaCompanyMappingFilterSet

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
