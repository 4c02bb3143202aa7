"""What API clients send to open and update service requests, and their notes and timeline.

How a request is shown (``ServiceRequestSerializer``) is ``servicerequests.serializers``: events
carry it too, and the services that record those events sit above this package, so it cannot live
here. Writes go through ``servicerequests.services`` (timeline and audit).
"""

import copy

from django.core.validators import RegexValidator
from django.db import transaction
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail

from core.api import through_service
from core.listing import ValueWriter
from core.openapi import examples
from customers.serializers import CustomerTenantField
from incidents.models import Incident
from servicerequests import services
from servicerequests.api import schema
from servicerequests.forms import support_staff
from servicerequests.models import (
    CategoryChoices,
    ServiceRequest,
    ServiceRequestNote,
    StatusChoices,
    SupportTopic,
    TimelineEntry,
    delivery_of,
)
from servicerequests.serializers import (
    DeliverySerializer,
    PrimaryContactSerializer,
    ServiceRequestSerializer,
    representation_data,
)

# --- fields shared by the serializers -----------------------------------------------------------


@extend_schema_field(OpenApiTypes.STR)
class IncidentField(serializers.SlugRelatedField):
    """An incident by Microsoft's id (``EX123456``)."""

    default_error_messages = {"does_not_exist": "No incident has the id {value}."}

    def __init__(self, **kwargs):
        super().__init__(slug_field="microsoft_id", **kwargs)

    def get_queryset(self):
        return Incident.objects.visible_to(self.context["request"].user)


@extend_schema_field(OpenApiTypes.EMAIL)
class AssigneeField(serializers.SlugRelatedField):
    """A staff member with a support role, by email (case-insensitive)."""

    default_error_messages = {
        "does_not_exist": "No active staff member with a support role has the email {value}.",
    }

    def __init__(self, **kwargs):
        super().__init__(slug_field="email", **kwargs)

    def get_queryset(self):
        return support_staff()

    def to_internal_value(self, data):
        if isinstance(data, str):
            data = data.strip().lower()
        return super().to_internal_value(data)


# --- service requests ---------------------------------------------------------------------------


class ServiceRequestCreateSerializer(serializers.ModelSerializer):
    """What a new service request needs; routing picks its channel."""

    category = serializers.ChoiceField(
        choices=CategoryChoices.choices,
        required=False,
        help_text="Leave it out to take the support topic's category.",
    )
    support_topic = serializers.PrimaryKeyRelatedField(
        queryset=SupportTopic.objects.filter(active=True),
        help_text="An active support topic's id (see /api/v1/support-topics/).",
    )
    customer = CustomerTenantField(help_text="The customer's tenant id.")
    primary_contact = PrimaryContactSerializer(source="*")
    incident = IncidentField(
        required=False, allow_null=True, help_text="Microsoft's id of the incident it is about."
    )
    assignee = AssigneeField(
        required=False,
        allow_null=True,
        help_text="The email of a staff member with a support role.",
    )
    locale = serializers.CharField(
        max_length=10,
        default="en-US",
        validators=[
            RegexValidator(
                r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8}){0,2}$", "Use a locale such as en-US or tr-TR."
            )
        ],
        help_text="The agent's locale, as Partner Center expects it.",
    )

    class Meta:
        model = ServiceRequest
        fields = [
            "title",
            "description",
            "severity",
            "category",
            "support_topic",
            "customer",
            "primary_contact",
            "incident",
            "assignee",
            "locale",
        ]
        extra_kwargs = {
            "title": {"min_length": services.MIN_TITLE},
            "description": {"min_length": services.MIN_DESCRIPTION, "max_length": 10000},
        }

    # ModelSerializer builds its fields from the model on every instance (8% of an open's Python
    # calls). The model does not change while the process runs: they are built once per class
    # (a subclass builds its own) and copied, as DRF copies declared fields.
    def get_fields(self):
        cls = type(self)
        built = cls.__dict__.get("_built_fields")
        if built is None:
            built = cls._built_fields = super().get_fields()
        return copy.deepcopy(built)

    # The same rules as the form: whitespace does not count towards the minimum.
    def validate_title(self, value):
        return services.clean_title(value)

    def validate_description(self, value):
        return services.clean_description(value)

    def validate(self, attrs):
        topic, category = attrs["support_topic"], attrs.get("category")
        if category and category != topic.category:
            raise serializers.ValidationError(
                {
                    "support_topic": [
                        f"This topic is {topic.category}; the request is {category}. "
                        "Choose a topic of the request's category, or leave the category out."
                    ]
                }
            )
        return attrs

    def create(self, validated_data):
        request = self.context["request"]
        try:
            return through_service(
                services.open_service_request,
                actor=request.user,
                request=request,
                **validated_data,
            )
        except services.NoRoute:
            category = validated_data.get("category") or validated_data["support_topic"].category
            raise serializers.ValidationError(
                {
                    "non_field_errors": [
                        ErrorDetail(
                            f"No support channel takes {category} requests: no routing rule "
                            f"matched and no {category} channel is enabled. Nothing was opened; "
                            "a Global admin must add or enable a channel.",
                            code="no_route",
                        )
                    ]
                }
            ) from None


@examples("Close it", request={"status": "closed"})
class ServiceRequestUpdateSerializer(serializers.Serializer):
    """What may change once a request is filed: its status (close, reopen) and its assignee."""

    FIXED_FIELDS = frozenset(ServiceRequestSerializer.Meta.fields) - {"status", "assignee"}

    status = serializers.ChoiceField(
        choices=[
            (StatusChoices.OPEN.value, StatusChoices.OPEN.label),
            (StatusChoices.CLOSED.value, StatusChoices.CLOSED.label),
        ],
        required=False,
        help_text=(
            "`closed` closes it (not while its delivery is still on its way); `open` reopens a "
            "closed request, which then shows its delivery's status again. `open` on a request "
            "that is not closed changes nothing."
        ),
    )
    assignee = AssigneeField(
        required=False,
        allow_null=True,
        help_text="The email of a staff member with a support role; null unassigns it.",
    )

    def validate(self, attrs):
        fixed = sorted(self.FIXED_FIELDS & set(self.initial_data))
        if fixed:
            message = "Partner Center requests cannot change this after filing."
            raise serializers.ValidationError(
                {name: [ErrorDetail(message, code="read_only")] for name in fixed}
            )
        service_request = self.instance
        wanted = attrs.get("status")
        if wanted == StatusChoices.CLOSED and service_request.status != StatusChoices.CLOSED:
            delivery = delivery_of(service_request)
            if delivery is not None and delivery.state in services.IN_FLIGHT:
                raise serializers.ValidationError(
                    {
                        "status": [
                            ErrorDetail(
                                "It is still being delivered: close it once the channel has it.",
                                code="in_flight",
                            )
                        ]
                    }
                )
        return attrs

    def update(self, instance, validated_data):
        request = self.context["request"]
        with transaction.atomic():
            if "assignee" in validated_data and validated_data["assignee"] != instance.assignee:
                services.assign(
                    instance, validated_data["assignee"], actor=request.user, request=request
                )
            target = _target_status(instance, validated_data.get("status"))
            if target is not None:
                services.change_status(instance, target, actor=request.user, request=request)
        return instance


def _target_status(service_request, wanted):
    """The status ``wanted`` leads to, or None when nothing changes."""
    current = service_request.status
    if wanted == StatusChoices.CLOSED and current != StatusChoices.CLOSED:
        return StatusChoices.CLOSED
    if wanted == StatusChoices.OPEN and current == StatusChoices.CLOSED:
        return services.reopen_status(delivery_of(service_request))
    return None


@examples("A note", request=schema.NOTE_REQUEST, response=schema.NOTE_RESPONSE)
class NoteSerializer(serializers.ModelSerializer):
    text = serializers.CharField(max_length=5000, help_text="The note; shown on the timeline.")
    author_name = serializers.CharField(
        read_only=True, help_text="Who wrote it: a staff member, an API client or Microsoft."
    )
    from_channel = serializers.BooleanField(
        read_only=True, help_text="True when it came from the channel (Microsoft's side)."
    )

    class Meta:
        model = ServiceRequestNote
        fields = ["id", "author_name", "text", "from_channel", "created_at"]
        read_only_fields = ["id", "created_at"]


@examples("Routed", response=schema.TIMELINE_ENTRY_RESPONSE)
class TimelineEntrySerializer(serializers.ModelSerializer):
    actor_name = serializers.CharField(
        read_only=True, help_text="Who did it; empty for the portal itself."
    )
    message = serializers.CharField(
        source="text",
        read_only=True,
        help_text="What happened, in the language the request asks for (`Accept-Language`).",
    )

    class Meta:
        model = TimelineEntry
        fields = ["kind", "message", "actor_name", "created_at"]
        read_only_fields = fields


# --- the list, from plain values (core.listing) ---------------------------------------------------

# ServiceRequestSerializer's fields that are not the request's own columns.
_NOT_COLUMNS = {
    "url",
    "support_topic",
    "customer",
    "primary_contact",
    "channel",
    "incident",
    "assignee",
    "is_breached",
    "delivery",
}
# The request's own columns and its delivery's: one join. The list's cursor conditions and order
# make PostgreSQL plan this query with care; with the five related tables joined in as well,
# planning took 10 ms, twenty times the execution.
SERVICE_REQUEST_LIST_COLUMNS = (
    "pk",
    *(name for name in ServiceRequestSerializer.Meta.fields if name not in _NOT_COLUMNS),
    "support_topic_id",
    "channel_id",
    "contact_name",
    "contact_email",
    "contact_phone",
    "delivery__state",  # never null: null means the request has no delivery row
    *(f"delivery__{name}" for name in DeliverySerializer.Meta.fields if name != "state"),
)
# The related rows' fields, read by the page's keys in a second query with a plain plan.
RELATED_COLUMNS = (
    "pk",
    "support_topic__name",
    "customer__tenant_id",
    "customer__company_name",
    "channel__name",
    "channel__kind",
    "incident__microsoft_id",
    "assignee__email",
)


def service_request_list_data(rows, links):
    """ServiceRequestSerializer's representation of ``rows`` (``SERVICE_REQUEST_LIST_COLUMNS``
    values)."""
    related = (
        {
            row["pk"]: row
            for row in ServiceRequest.objects.filter(pk__in=[row["pk"] for row in rows]).values(
                *RELATED_COLUMNS
            )
        }
        if rows
        else {}
    )
    write = ValueWriter()
    now = timezone.now()
    return [
        representation_data(row, related[row["pk"]], links(row["number"]), write, now)
        for row in rows
    ]
