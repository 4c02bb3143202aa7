"""Customers, their subscriptions and delegated-admin relationships as the API shows them; the
payloads of the events about them are the same.

No writes here: ``customers.services`` renders event payloads with these serializers, so they sit
below the services, and ``customers.api`` hands validated data to the services.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import F
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.validators import UniqueValidator

from core.listing import ValueWriter, children_of
from core.openapi import EXAMPLE_API, examples
from customers import gdap
from customers.gdap import GdapStateChoices
from customers.models import (
    CUSTOMER_COLUMNS,
    AccessAssignment,
    Contact,
    Customer,
    DelegatedAdminRelationship,
    Subscription,
    validate_domain,
)
from customers.models.customer import gdap_state_of


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


CONTACT_FIELDS = ("name", "email", "phone", "role")


class ContactSerializer(serializers.ModelSerializer):
    class Meta:
        model = Contact
        fields = list(CONTACT_FIELDS)


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


class CustomerLinkSerializer(serializers.ModelSerializer):
    """A row linking something of Microsoft's (an incident, a message) to a customer, shown as
    the customer it names; subclasses give the model and the fields."""

    tenant_id = serializers.UUIDField(source="customer.tenant_id", read_only=True)
    company_name = serializers.CharField(source="customer.company_name", read_only=True)


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
            *CUSTOMER_COLUMNS,
            "notes",
            "contacts",
            "gdap_state",
            "gdap_access_until",
            "created_at",
            "modified_at",
        ]
        read_only_fields = ["gdap_access_until", "created_at", "modified_at"]


# What the list reads: CustomerSerializer's fields from plain values (core.listing).
CUSTOMER_LIST_COLUMNS = (
    "pk",
    *(name for name in CUSTOMER_COLUMNS if name != "tags"),
    "notes",
    "gdap_access_until",
    "gdap_ever_active",
    "created_at",
    "modified_at",
)


def ordered_contacts():
    # The order the UI shows, stated so that a prefetch needs no join.
    return Contact.objects.order_by("role", "name", "pk")


def customer_list_data(rows, links):
    """CustomerSerializer's representation of ``rows`` (``CUSTOMER_LIST_COLUMNS`` values), with
    their tags and contacts in one query each."""
    ids = [row["pk"] for row in rows]
    tags = children_of(
        Customer.tags.through.objects.order_by("tag__name"), "customer_id", ids, name=F("tag__name")
    )
    contacts = children_of(ordered_contacts(), "customer_id", ids, *CONTACT_FIELDS)
    write = ValueWriter()
    now = timezone.now()
    return [
        {
            "url": links(row["tenant_id"]),
            "tenant_id": str(row["tenant_id"]),
            "company_name": row["company_name"],
            "default_domain": row["default_domain"],
            "other_domains": row["other_domains"],
            "country": row["country"],
            "relationship": row["relationship"],
            "tags": [tag["name"] for tag in tags[row["pk"]]],
            "notes": row["notes"],
            "contacts": contacts[row["pk"]],
            "gdap_state": str(
                gdap_state_of(row["gdap_access_until"], row["gdap_ever_active"], now)
            ),
            "gdap_access_until": write.time(row["gdap_access_until"]),
            "created_at": write.time(row["created_at"]),
            "modified_at": write.time(row["modified_at"]),
        }
        for row in rows
    ]


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
