"""The customers API: customers with their tags and contacts, and read-only nested lists of their
subscriptions and delegated-admin relationships.

Every write goes through ``customers.services``, so the audit log and the GDAP summary stay right:
the viewset hands them the data ``customers.serializers`` validated. API texts are plain English
strings, like the rest of the API (the UI is the translated part).
"""

from django.db.models import F, Prefetch
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.roles import Capability
from accounts.scopes import ApiResource
from core.api import NoDeleteViewSet, nested_list_action, through_service
from core.listing import ValuesListMixin
from core.pagination import SyncCursorPagination
from customers import services
from customers.filters import CustomerFilterSet
from customers.models import AccessAssignment, Customer, Subscription
from customers.serializers import (
    CUSTOMER_LIST_COLUMNS,
    CustomerSerializer,
    CustomerUpdateSerializer,
    RelationshipSerializer,
    SubscriptionSerializer,
    customer_list_data,
    ordered_contacts,
)

NESTED_LIST_NOTE = "A plain list, not paginated: a customer has few of them."


@extend_schema(tags=["customers"])
@extend_schema_view(
    list=extend_schema(
        summary="List customers",
        description=(
            "Customers ordered by last modification, oldest first, with cursor pagination. "
            "For incremental sync, pass `modified_since` and follow `next`: each change is "
            "returned once."
        ),
    ),
    retrieve=extend_schema(summary="Get a customer"),
    create=extend_schema(summary="Create a customer"),
    update=extend_schema(
        summary="Replace a customer",
        description="The tenant id cannot change. Tags and contacts, when given, are replaced.",
        responses=CustomerSerializer,
    ),
    partial_update=extend_schema(
        summary="Update a customer",
        description="Only the fields given change. Tags and contacts, when given, are replaced.",
        responses=CustomerSerializer,
    ),
)
class CustomerViewSet(ValuesListMixin, NoDeleteViewSet):
    """Customer tenants. Support roles read; admin agents and global admins write."""

    required_capabilities = {"read": Capability.VIEW_SUPPORT, "write": Capability.MANAGE_CUSTOMERS}
    api_resource = ApiResource.CUSTOMERS
    queryset = Customer.objects.all()
    serializer_class = CustomerSerializer
    filterset_class = CustomerFilterSet
    pagination_class = SyncCursorPagination
    lookup_field = "tenant_id"
    lookup_value_regex = "[0-9a-fA-F-]{32,36}"
    list_columns = CUSTOMER_LIST_COLUMNS

    def detail_prefetches(self):
        return ("tags", Prefetch("contacts", queryset=ordered_contacts()))

    def list_data(self, rows, links):
        return customer_list_data(rows, links)

    def get_serializer_class(self):
        if self.action in ("update", "partial_update"):
            return CustomerUpdateSerializer
        return super().get_serializer_class()

    def perform_create(self, serializer):
        serializer.instance = through_service(
            services.create_customer,
            actor=self.request.user,
            request=self.request,
            **serializer.validated_data,
        )

    def perform_update(self, serializer):
        # Absent ``tags`` / ``contacts`` reach the service as None: left as they are.
        serializer.instance = through_service(
            services.update_customer,
            serializer.instance,
            actor=self.request.user,
            request=self.request,
            **serializer.validated_data,
        )

    @extend_schema(
        methods=["GET"],
        summary="List a customer's subscriptions",
        description=NESTED_LIST_NOTE,
        responses=SubscriptionSerializer(many=True),
    )
    @extend_schema(
        methods=["POST"],
        summary="Add a subscription to a customer",
        request=SubscriptionSerializer,
        responses={201: SubscriptionSerializer},
    )
    @action(
        detail=True,
        methods=["get", "post"],
        serializer_class=SubscriptionSerializer,
        pagination_class=None,
        filter_backends=[],
    )
    def subscriptions(self, request, tenant_id=None):
        customer = self.get_object()
        if request.method == "POST":
            serializer = self.get_serializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            subscription = through_service(
                services.save_subscription,
                Subscription(customer=customer),
                actor=request.user,
                request=request,
                **serializer.validated_data,
            )
            return Response(self.get_serializer(subscription).data, status=status.HTTP_201_CREATED)
        subscriptions = customer.subscriptions.order_by("service_family", "offer_name", "pk")
        return Response(self.get_serializer(subscriptions, many=True).data)

    @nested_list_action(
        summary="List a customer's delegated-admin (GDAP) relationships",
        description=f"{NESTED_LIST_NOTE} Soonest end first; each with its access assignments.",
        serializer_class=RelationshipSerializer,
    )
    def relationships(self, request, tenant_id=None):
        customer = self.get_object()
        relationships = customer.relationships.order_by(
            # Nulls last on every database (SQLite and PostgreSQL differ by default).
            F("ends_on").asc(nulls_last=True),
            "pk",
        ).prefetch_related(
            Prefetch(
                "access_assignments",
                queryset=AccessAssignment.objects.order_by("security_group_name", "pk"),
            )
        )
        return Response(self.get_serializer(relationships, many=True).data)
