"""The customers API: customers with their tags and contacts, and read-only nested lists of their
subscriptions and delegated-admin relationships.

Every write goes through ``customers.services``, so the audit log and the GDAP summary stay right.
API texts are plain English strings, like the rest of the API (the UI is the translated part).
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import F, Prefetch
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.validators import UniqueValidator

from accounts.roles import Capability
from accounts.scopes import ApiResource
from core.api import NoDeleteViewSet, through_service
from core.openapi import EXAMPLE_API, examples
from core.pagination import PortalCursorPagination
from customers import gdap, services
from customers.filters import CustomerFilterSet
from customers.gdap import GdapStateChoices
from customers.models import (
    AccessAssignment,
    Contact,
    Customer,
    DelegatedAdminRelationship,
    Subscription,
    validate_domain,
)


class DomainField(serializers.CharField):
    """A domain name, lower-cased before it is validated (the model stores it lower-cased)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 253)
        super().__init__(**kwargs)
        self.validators.append(validate_domain)

    def to_internal_value(self, data):
        return super().to_internal_value(data).lower()


class TagNamesField(serializers.ListField):
    """Tags as a list of names; writing replaces the customer's tags."""

    child = serializers.SlugField(max_length=50, allow_unicode=True)

    def to_representation(self, data):
        # ``data`` is the related manager; ``.all()`` reads the prefetched tags.
        return [tag.name for tag in data.all()]


class EntraRoleSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="Entra role definition id.")
    name = serializers.CharField(help_text="The role's name, or its id when unknown.")


@extend_schema_field(EntraRoleSerializer(many=True))
class EntraRolesField(serializers.Field):
    """Role definition ids, each with its name."""

    def __init__(self, **kwargs):
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, value):
        return [{"id": role, "name": gdap.role_name(role)} for role in value]


@extend_schema_field(OpenApiTypes.UUID)
class CustomerTenantField(serializers.SlugRelatedField):
    """A customer by tenant id, among the customers the caller may see."""

    default_error_messages = {
        "does_not_exist": "No customer has the tenant id {value}.",
        "invalid": "Enter the customer's tenant id.",
    }

    def __init__(self, **kwargs):
        super().__init__(slug_field="tenant_id", **kwargs)

    def get_queryset(self):
        return Customer.objects.visible_to(self.context["request"].user)

    def to_internal_value(self, data):
        try:
            return super().to_internal_value(data)
        except DjangoValidationError:  # not a UUID
            self.fail("invalid")


class ContactSerializer(serializers.ModelSerializer):
    class Meta:
        model = Contact
        fields = ["name", "email", "phone", "role"]


CUSTOMER_EXAMPLE = {
    "tenant_id": "6babcaad-604b-40ac-a9d7-9fd97c0b779f",
    "company_name": "Contoso Ltd",
    "default_domain": "contoso.onmicrosoft.com",
    "other_domains": ["contoso.com", "contoso.co.uk"],
    "country": "GB",
    "relationship": "reseller",
    "tags": ["premier", "finance"],
    "notes": "Finance mailbox is business critical during month end.",
    "contacts": [
        {
            "name": "Pat Doe",
            "email": "pat@contoso.example",
            "phone": "+44 20 7946 0000",
            "role": "primary",
        }
    ],
}
CUSTOMER_UPDATE_EXAMPLE = {
    key: value for key, value in CUSTOMER_EXAMPLE.items() if key != "tenant_id"
}


@examples(
    "Contoso",
    request=CUSTOMER_EXAMPLE,
    response={
        "url": f"{EXAMPLE_API}/customers/6babcaad-604b-40ac-a9d7-9fd97c0b779f/",
        **CUSTOMER_EXAMPLE,
        "gdap_state": "active",
        "gdap_access_until": "2026-09-14T08:00:00Z",
        "created_at": "2025-03-02T10:15:00Z",
        "modified_at": "2025-11-27T09:05:00Z",
    },
)
class CustomerSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(
        view_name="api-v1:customer-detail", lookup_field="tenant_id"
    )
    tenant_id = serializers.UUIDField(
        help_text="The customer's Microsoft Entra tenant id; it cannot change.",
        validators=[
            UniqueValidator(
                queryset=Customer.objects.all(),
                message="A customer with this tenant id already exists.",
            )
        ],
    )
    default_domain = DomainField(
        validators=[
            UniqueValidator(
                queryset=Customer.objects.all(),
                message="A customer with this default domain already exists.",
            )
        ]
    )
    other_domains = serializers.ListField(child=DomainField(), required=False)
    tags = TagNamesField(required=False)
    contacts = ContactSerializer(
        many=True, required=False, help_text="Writing replaces all of the customer's contacts."
    )
    gdap_state = serializers.ChoiceField(
        choices=GdapStateChoices.choices,
        read_only=True,
        help_text="Delegated access as a whole, from the customer's GDAP relationships.",
    )

    class Meta:
        model = Customer
        fields = [
            "url",
            "tenant_id",
            "company_name",
            "default_domain",
            "other_domains",
            "country",
            "relationship",
            "tags",
            "notes",
            "contacts",
            "gdap_state",
            "gdap_access_until",
            "created_at",
            "modified_at",
        ]
        read_only_fields = ["gdap_access_until", "created_at", "modified_at"]

    def create(self, validated_data):
        request = self.context["request"]
        return through_service(
            services.create_customer, actor=request.user, request=request, **validated_data
        )

    def update(self, instance, validated_data):
        # Absent ``tags`` / ``contacts`` reach the service as None: left as they are.
        request = self.context["request"]
        return through_service(
            services.update_customer,
            instance,
            actor=request.user,
            request=request,
            **validated_data,
        )


@examples("Contoso", request=CUSTOMER_UPDATE_EXAMPLE)
class CustomerUpdateSerializer(CustomerSerializer):
    """The same representation; the tenant id is fixed once the customer exists."""

    tenant_id = serializers.UUIDField(read_only=True)


SUBSCRIPTION_EXAMPLE = {
    "service_family": "microsoft_365",
    "offer_name": "Microsoft 365 E3",
    "quantity": 25,
    "status": "active",
    "term_end": "2026-03-01",
}


@examples(
    "Microsoft 365 E3",
    request=SUBSCRIPTION_EXAMPLE,
    response={
        "id": 41,
        **SUBSCRIPTION_EXAMPLE,
        "created_at": "2025-03-02T10:20:00Z",
        "modified_at": "2025-11-02T14:00:00Z",
    },
)
class SubscriptionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Subscription
        fields = [
            "id",
            "service_family",
            "offer_name",
            "quantity",
            "status",
            "term_end",
            "created_at",
            "modified_at",
        ]
        read_only_fields = ["id", "created_at", "modified_at"]


class AccessAssignmentSerializer(serializers.ModelSerializer):
    roles = EntraRolesField()
    status_label = serializers.CharField(read_only=True)

    class Meta:
        model = AccessAssignment
        fields = ["security_group_id", "security_group_name", "roles", "status", "status_label"]
        read_only_fields = fields


SUPPORT_ADMINISTRATOR = {
    "id": "f023fd81-a637-4b56-95fd-791ac0226033",
    "name": "Service Support Administrator",
}


@examples(
    "Helpdesk access",
    response={
        "microsoft_id": "5e5594d3-6f82-458b-b567-77db4811f0cd-00000000-0000-0000-0000-000000000000",
        "display_name": "Contoso helpdesk access",
        "status": "active",
        "status_label": "Active",
        "duration": "P730D",
        "auto_extend_duration": "P180D",
        "roles": [
            SUPPORT_ADMINISTRATOR,
            {"id": "729827e3-9c14-49f7-bb1b-9608f156bbb8", "name": "Helpdesk Administrator"},
        ],
        "includes_global_administrator": False,
        "can_auto_extend": True,
        "created_on": "2024-09-10T08:00:00Z",
        "activated_on": "2024-09-14T08:00:00Z",
        "ends_on": "2026-09-14T08:00:00Z",
        "days_left": 291,
        "expiry_flag": None,
        "access_assignments": [
            {
                "security_group_id": "c5ab56ba-5de1-4ba9-bc6b-0c3a3e5e7d3a",
                "security_group_name": "Helpdesk agents",
                "roles": [SUPPORT_ADMINISTRATOR],
                "status": "active",
                "status_label": "Active",
            }
        ],
    },
)
class RelationshipSerializer(serializers.ModelSerializer):
    status = serializers.CharField(
        read_only=True,
        help_text="Graph's delegatedAdminRelationshipStatus, kept as sent (new values may appear).",
    )
    status_label = serializers.CharField(read_only=True)
    roles = EntraRolesField()
    includes_global_administrator = serializers.BooleanField(read_only=True)
    can_auto_extend = serializers.BooleanField(
        read_only=True,
        help_text="Microsoft never auto-extends a relationship that includes Global Administrator.",
    )
    days_left = serializers.IntegerField(read_only=True, allow_null=True)
    expiry_flag = serializers.IntegerField(
        read_only=True,
        allow_null=True,
        help_text="1, 7 or 30 when access ends within that many days, else null.",
    )
    access_assignments = AccessAssignmentSerializer(many=True, read_only=True)

    class Meta:
        model = DelegatedAdminRelationship
        fields = [
            "microsoft_id",
            "display_name",
            "status",
            "status_label",
            "duration",
            "auto_extend_duration",
            "roles",
            "includes_global_administrator",
            "can_auto_extend",
            "created_on",
            "activated_on",
            "ends_on",
            "days_left",
            "expiry_flag",
            "access_assignments",
        ]
        read_only_fields = fields


class CustomerCursorPagination(PortalCursorPagination):
    """Oldest change first, so a PSA polling with ``modified_since`` gets each change once."""

    ordering = ("modified_at", "pk")


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
class CustomerViewSet(NoDeleteViewSet):
    """Customer tenants. Support roles read; admin agents and global admins write."""

    required_capabilities = {"read": Capability.VIEW_SUPPORT, "write": Capability.MANAGE_CUSTOMERS}
    api_resource = ApiResource.CUSTOMERS
    serializer_class = CustomerSerializer
    filterset_class = CustomerFilterSet
    pagination_class = CustomerCursorPagination
    lookup_field = "tenant_id"
    lookup_value_regex = "[0-9a-fA-F-]{32,36}"

    def get_queryset(self):
        queryset = Customer.objects.visible_to(self.request.user)
        if self.action in ("list", "retrieve"):
            queryset = queryset.prefetch_related(
                "tags",
                # The order the UI shows, stated so the prefetch needs no join.
                Prefetch("contacts", queryset=Contact.objects.order_by("role", "name", "pk")),
            )
        return queryset

    def get_serializer_class(self):
        if self.action in ("update", "partial_update"):
            return CustomerUpdateSerializer
        return super().get_serializer_class()

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

    @extend_schema(
        summary="List a customer's delegated-admin (GDAP) relationships",
        description=f"{NESTED_LIST_NOTE} Soonest end first; each with its access assignments.",
        responses=RelationshipSerializer(many=True),
    )
    @action(
        detail=True,
        methods=["get"],
        serializer_class=RelationshipSerializer,
        pagination_class=None,
        filter_backends=[],
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
