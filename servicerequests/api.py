"""The service requests API: service requests with their notes and timeline, the support topics,
and (for Global admins) the support channels, the routing rules and a routing test.

Every write goes through a service function: ``servicerequests.services`` for requests (timeline and
audit), ``servicerequests.admin_services`` for channels, rules and topics (audit, never a secret).
A channel's credentials are write-only: no response, error message or audit entry carries them.
A create may carry an ``Idempotency-Key`` (see ``servicerequests.idempotency``). Lookups use the
request's number (``SR-000123``). API texts are plain English, like the rest of the API.
"""

import django_filters
from django.core.validators import RegexValidator
from django.db import transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from drf_standardized_errors.openapi_serializers import ClientErrorEnum, ErrorResponse429Serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ErrorDetail
from rest_framework.response import Response
from rest_framework.validators import UniqueValidator

from accounts.roles import Capability
from accounts.scopes import ApiResource
from core.api import NoDeleteViewSet, through_service
from core.filters import IntegerFilter, PortalFilterSet
from core.incremental import ModifiedSinceFilter, ModifiedSinceFilterSet
from core.openapi import EXAMPLE_API, error_example, examples
from core.pagination import PortalCursorPagination, SyncCursorPagination
from core.throttling import ServiceRequestCreateThrottle
from customers.serializers import CustomerTenantField
from incidents.models import Incident
from servicerequests import admin_services, idempotency, routing, services
from servicerequests.forms import ServiceRequestFilterSet, support_staff
from servicerequests.models import (
    CategoryChoices,
    Channel,
    Delivery,
    DeliveryStateChoices,
    RoutingRule,
    ServiceRequest,
    ServiceRequestNote,
    SeverityChoices,
    StatusChoices,
    SupportTopic,
    TimelineEntry,
)
from servicerequests.serializers import (
    CREATE_EXAMPLE,
    CREATED_EXAMPLE,
    ChannelRefSerializer,
    PrimaryContactSerializer,
    ServiceRequestSerializer,
)

VIEW = Capability.VIEW_SUPPORT
WORK = Capability.WORK_SUPPORT
MANAGE = Capability.MANAGE_INTEGRATIONS
# A delivery still on its way: closing now would race the worker that reopens it on success.
IN_FLIGHT = {DeliveryStateChoices.PENDING, DeliveryStateChoices.SENDING}
PLAIN_LIST_NOTE = "A plain list, not paginated."
SYNC_LIST_NOTE = (
    "Ordered by last modification, oldest first, with cursor pagination; pass "
    "`modified_since` and follow `next` for incremental sync."
)
# The kinds of support channel, as the schema names them (SPECTACULAR_SETTINGS' enum overrides).
CHANNEL_KIND_CHOICES = Channel._meta.get_field("kind").choices


def _through_service(function, *args, nest=None, **kwargs):
    """``through_service``; ``nest`` maps error keys to the field that holds them (a channel's
    ``signing_secret`` error belongs to ``credentials``)."""

    def nested(errors):
        for key, parent in (nest or {}).items():
            if key in errors:
                errors.setdefault(parent, {})[key] = errors.pop(key)
        return errors

    return through_service(function, *args, adjust_errors=nested, **kwargs)


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
            return _through_service(
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
            delivery = _delivery_of(service_request)
            if delivery is not None and delivery.state in IN_FLIGHT:
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


def _delivery_of(service_request):
    try:
        return service_request.delivery
    except Delivery.DoesNotExist:
        return None


def _target_status(service_request, wanted):
    """The status ``wanted`` leads to, or None when nothing changes."""
    current = service_request.status
    if wanted == StatusChoices.CLOSED and current != StatusChoices.CLOSED:
        return StatusChoices.CLOSED
    if wanted == StatusChoices.OPEN and current == StatusChoices.CLOSED:
        delivery = _delivery_of(service_request)
        if delivery is None or delivery.state == DeliveryStateChoices.DELIVERED:
            return StatusChoices.OPEN
        if delivery.state == DeliveryStateChoices.FAILED:
            return StatusChoices.DELIVERY_FAILED
        return StatusChoices.PENDING_DELIVERY
    return None


NOTE_TEXT = "Customer confirms external mail has flowed normally since 10:05 UTC."


@examples(
    "A note",
    request={"text": NOTE_TEXT},
    response={
        "id": 311,
        "author_name": "Sam Lee",
        "text": NOTE_TEXT,
        "from_channel": False,
        "created_at": "2025-11-27T10:12:00Z",
    },
)
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


@examples(
    "Routed",
    response={
        "kind": "routed",
        "message": (
            "Rule “Critical Exchange to Premier” matched: sent through Premier Support "
            "(Partner Center)."
        ),
        "actor_name": "",
        "created_at": "2025-11-27T09:10:00Z",
    },
)
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


class ServiceRequestApiFilterSet(ServiceRequestFilterSet):
    """The service-request list's filters, plus incremental sync for PSA tools."""

    mine = django_filters.BooleanFilter(
        method="filter_mine",
        help_text="true: only requests assigned to or opened by the caller.",
    )
    breached = django_filters.BooleanFilter(
        method="filter_breached",
        help_text="true: only requests past their first-response target without a response.",
    )
    attention = django_filters.BooleanFilter(
        method="filter_attention",
        help_text="true: only requests needing attention (Microsoft waits, delivery failed, "
        "or breached).",
    )
    channel = IntegerFilter(field_name="channel_id", help_text="The support channel's id.")
    modified_since = ModifiedSinceFilter()

    class Meta(ServiceRequestFilterSet.Meta):
        fields = [*ServiceRequestFilterSet.Meta.fields, "modified_since"]

    def __init__(self, *args, request=None, **kwargs):
        kwargs.setdefault("user", getattr(request, "user", None))
        super().__init__(*args, request=request, **kwargs)


class ServiceRequestCursorPagination(PortalCursorPagination):
    """Oldest change first, so a PSA polling with ``modified_since`` gets each change once."""

    ordering = ("modified_at", "pk")


class IdempotencyErrorSerializer(serializers.Serializer):
    code = serializers.CharField(
        help_text="`idempotency_key_reused` (422) or `idempotency_key_in_progress` (409)."
    )
    detail = serializers.CharField()
    attr = serializers.CharField(allow_null=True)


class IdempotencyErrorResponseSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=ClientErrorEnum.choices)
    errors = IdempotencyErrorSerializer(many=True)


IDEMPOTENCY_KEY = OpenApiParameter(
    name=idempotency.HEADER,
    type=OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    required=False,
    pattern=idempotency.KEY_PATTERN.pattern,
    description=(
        "Any unique string of 1–255 visible ASCII characters (a UUID is best). Sending the same "
        "key with the same body again, within 24 hours, opens nothing new and answers the first "
        "response again (with `Idempotent-Replayed: true`); the same key with another body is "
        "refused with 422. Keys are per API client or user."
    ),
)
CREATED_HEADERS = [
    OpenApiParameter(
        name="Location",
        type=OpenApiTypes.URI,
        location=OpenApiParameter.HEADER,
        response=[201],
        required=True,
        description="The new service request's URL.",
    ),
    OpenApiParameter(
        name=idempotency.REPLAY_HEADER,
        type=OpenApiTypes.STR,
        location=OpenApiParameter.HEADER,
        enum=["true"],
        response=[201],
        description="`true` when this answer repeats the first one for the same Idempotency-Key.",
    ),
]


@extend_schema(tags=["service requests"])
@extend_schema_view(
    list=extend_schema(
        summary="List service requests",
        description=(
            "Service requests ordered by last modification, oldest first, with cursor "
            "pagination. For incremental sync, pass `modified_since` and follow `next`: each "
            "change is returned once."
        ),
    ),
    retrieve=extend_schema(summary="Get a service request"),
    create=extend_schema(
        summary="Open a service request",
        description=(
            "Opens the request and routes it to a support channel; it is delivered in the "
            "background (`delivery.state`). Answers 400 with code `no_route` when no channel "
            "takes its category. Send an `Idempotency-Key` so that a retry after a timeout "
            "cannot open it twice. Opening requests has its own, tighter rate per caller "
            "(`API_SERVICE_REQUEST_CREATE_RATE`, 30 a minute by default) on top of the general "
            "one; reads and other writes do not count against it."
        ),
        parameters=[IDEMPOTENCY_KEY, *CREATED_HEADERS],
        request=ServiceRequestCreateSerializer,
        responses={
            201: ServiceRequestSerializer,
            409: OpenApiResponse(
                IdempotencyErrorResponseSerializer,
                description=(
                    "A request with the same Idempotency-Key is still being processed: retry in "
                    "a moment to get its answer."
                ),
            ),
            422: OpenApiResponse(
                IdempotencyErrorResponseSerializer,
                description=(
                    "The Idempotency-Key was already used with a different body: nothing was "
                    "opened. Use a new key for a new request."
                ),
            ),
            429: OpenApiResponse(
                ErrorResponse429Serializer,
                description=(
                    "Too many requests from this caller: either its general rate "
                    "(`API_THROTTLE_RATE`, or the API client's own rate limit) or the rate for "
                    "opening service requests (`API_SERVICE_REQUEST_CREATE_RATE`). Nothing was "
                    "opened. Retry after `Retry-After` seconds."
                ),
            ),
        },
        examples=[
            OpenApiExample("Escalate a mail-flow problem", value=CREATE_EXAMPLE, request_only=True),
            OpenApiExample(
                "Opened, waiting for delivery",
                value=CREATED_EXAMPLE,
                response_only=True,
                status_codes=["201"],
            ),
            error_example(
                "Key in use",
                idempotency.IdempotencyKeyInProgress.default_code,
                idempotency.IdempotencyKeyInProgress.default_detail,
                409,
            ),
            error_example(
                "Key reused with another body",
                idempotency.IdempotencyKeyReused.default_code,
                idempotency.IdempotencyKeyReused.default_detail,
                422,
            ),
        ],
    ),
    partial_update=extend_schema(
        summary="Close, reopen or assign a service request",
        description=(
            "Only `status` and `assignee` may change: Partner Center requests cannot change "
            "their title, description or other fields after filing (sending one is a 400). "
            "Each change lands on the timeline and in the audit log."
        ),
        request=ServiceRequestUpdateSerializer,
        responses=ServiceRequestSerializer,
    ),
)
class ServiceRequestViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Escalations to Microsoft. Support roles read, open, update and comment."""

    required_capabilities = {"read": VIEW, "write": WORK}
    api_resource = ApiResource.SERVICE_REQUESTS
    serializer_class = ServiceRequestSerializer
    filterset_class = ServiceRequestApiFilterSet
    pagination_class = ServiceRequestCursorPagination
    lookup_field = "number"
    lookup_value_regex = "SR-[0-9]+"

    def get_queryset(self):
        return ServiceRequest.objects.visible_to(self.request.user).select_related(
            "support_topic", "customer", "channel", "incident", "assignee", "delivery"
        )

    def get_throttles(self):
        throttles = super().get_throttles()
        if self.action == "create":
            # Only opening one: reads, updates and notes stay on the general bucket alone.
            throttles.append(ServiceRequestCreateThrottle())
        return throttles

    def get_serializer_class(self):
        if self.action == "create":
            return ServiceRequestCreateSerializer
        if self.action == "partial_update":
            return ServiceRequestUpdateSerializer
        return super().get_serializer_class()

    def _representation(self, pk):
        service_request = self.get_queryset().get(pk=pk)
        return ServiceRequestSerializer(service_request, context=self.get_serializer_context()).data

    def create(self, request, *args, **kwargs):
        return idempotency.run_once(request, lambda: self._create(request))

    def _create(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        service_request = serializer.save()
        data = self._representation(service_request.pk)
        return Response(
            data, status=status.HTTP_201_CREATED, headers={"Location": str(data["url"])}
        )

    def partial_update(self, request, *args, **kwargs):
        service_request = self.get_object()
        serializer = self.get_serializer(service_request, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        serializer.save()
        return Response(self._representation(service_request.pk))

    @extend_schema(
        methods=["GET"],
        summary="List a service request's notes",
        description=f"Oldest first. {PLAIN_LIST_NOTE}",
        responses=NoteSerializer(many=True),
    )
    @extend_schema(
        methods=["POST"],
        summary="Add a note to a service request",
        description="The note lands on the timeline and in the audit log.",
        request=NoteSerializer,
        responses={201: NoteSerializer},
    )
    @action(
        detail=True,
        methods=["get", "post"],
        serializer_class=NoteSerializer,
        pagination_class=None,
        filter_backends=[],
    )
    def notes(self, request, number=None):
        service_request = self.get_object()
        if request.method == "POST":
            serializer = self.get_serializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            note = services.add_note(
                service_request,
                text=serializer.validated_data["text"],
                actor=request.user,
                request=request,
            )
            return Response(self.get_serializer(note).data, status=status.HTTP_201_CREATED)
        notes = service_request.notes.order_by("created_at", "pk")
        return Response(self.get_serializer(notes, many=True).data)

    @extend_schema(
        summary="List a service request's timeline",
        description=(
            "Everything that happened to it, oldest first: opened, routed, delivery attempts, "
            f"status changes, notes, assignments. {PLAIN_LIST_NOTE}"
        ),
        responses=TimelineEntrySerializer(many=True),
    )
    @action(
        detail=True,
        methods=["get"],
        serializer_class=TimelineEntrySerializer,
        pagination_class=None,
        filter_backends=[],
    )
    def timeline(self, request, number=None):
        service_request = self.get_object()
        entries = service_request.timeline.order_by("created_at", "pk")
        return Response(self.get_serializer(entries, many=True).data)


# --- support topics -----------------------------------------------------------------------------


class SupportTopicFilterSet(PortalFilterSet):
    category = django_filters.ChoiceFilter(choices=CategoryChoices.choices)
    active = django_filters.BooleanFilter(
        help_text="true: topics offered for new requests; false: retired ones."
    )
    modified_since = ModifiedSinceFilter()

    class Meta:
        model = SupportTopic
        fields = ["category", "active", "modified_since"]


SUPPORT_TOPIC_EXAMPLE = {
    "name": "Exchange Online",
    "description": "Mail flow, mailboxes, calendars and Exchange Online Protection.",
    "category": "technical",
    "partner_center_id": "32444673",
    "active": True,
}


@examples(
    "Exchange Online",
    request=SUPPORT_TOPIC_EXAMPLE,
    response={
        "url": f"{EXAMPLE_API}/support-topics/8/",
        "id": 8,
        **SUPPORT_TOPIC_EXAMPLE,
        "modified_at": "2025-06-02T08:00:00Z",
    },
)
class SupportTopicSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api-v1:support-topic-detail")
    partner_center_id = serializers.RegexField(
        r"^[0-9]*$",
        max_length=40,
        required=False,
        allow_blank=True,
        error_messages={"invalid": "Partner Center's topic ids are digits only."},
        help_text="The support topic id Partner Center's API expects; needed for that channel.",
    )
    active = serializers.BooleanField(
        required=False, help_text="Inactive topics are not offered for new requests."
    )

    class Meta:
        model = SupportTopic
        fields = [
            "url",
            "id",
            "name",
            "description",
            "category",
            "partner_center_id",
            "active",
            "modified_at",
        ]
        read_only_fields = ["id", "modified_at"]

    def validate_partner_center_id(self, value):
        value = value.strip()
        if value:
            taken = SupportTopic.objects.filter(partner_center_id=value)
            if self.instance is not None:
                taken = taken.exclude(pk=self.instance.pk)
            if taken.exists():
                raise serializers.ValidationError(
                    "Another support topic has this Partner Center id."
                )
        return value

    def create(self, validated_data):
        request = self.context["request"]
        return _through_service(
            admin_services.create_topic, actor=request.user, request=request, **validated_data
        )

    def update(self, instance, validated_data):
        request = self.context["request"]
        return _through_service(
            admin_services.update_topic,
            instance,
            actor=request.user,
            request=request,
            **validated_data,
        )


@extend_schema(tags=["support"])
@extend_schema_view(
    list=extend_schema(
        summary="List support topics",
        description=f"Partner Center's support topics. {SYNC_LIST_NOTE}",
    ),
    retrieve=extend_schema(summary="Get a support topic"),
    create=extend_schema(summary="Add a support topic"),
    update=extend_schema(summary="Replace a support topic"),
    partial_update=extend_schema(summary="Update a support topic"),
)
class SupportTopicViewSet(NoDeleteViewSet):
    """Support roles read the topics; Global admins add and change them (none is deleted)."""

    required_capabilities = {"read": VIEW, "write": MANAGE}
    api_resource = ApiResource.SUPPORT_CONFIG
    serializer_class = SupportTopicSerializer
    filterset_class = SupportTopicFilterSet
    pagination_class = SyncCursorPagination
    lookup_value_regex = "[0-9]+"

    def get_queryset(self):
        return SupportTopic.objects.order_by("category", "name", "pk")


# --- support channels ---------------------------------------------------------------------------


class CredentialsField(serializers.DictField):
    child = serializers.CharField(max_length=4000, trim_whitespace=False, allow_blank=True)


CHANNEL_EXAMPLE = {
    "name": "Premier Support (Partner Center)",
    "kind": "partner_center",
    "category": "technical",
    "tier": "premier",
    "endpoint": "https://api.partnercenter.microsoft.com",
    "enabled": True,
}


@examples(
    "Partner Center",
    request={**CHANNEL_EXAMPLE, "credentials": {"access_token": "eyJ0eXAiOiJKV1Qi.example"}},
    response={
        "url": f"{EXAMPLE_API}/channels/3/",
        "id": 3,
        **CHANNEL_EXAMPLE,
        "has_credentials": True,
        "needs_attention": False,
        "last_error": "",
        "last_error_at": None,
        "created_at": "2025-03-01T12:00:00Z",
        "modified_at": "2025-10-14T16:30:00Z",
    },
)
class ChannelSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api-v1:channel-detail")
    name = serializers.CharField(
        max_length=100,
        validators=[
            UniqueValidator(
                queryset=Channel.objects.all(), message="A channel with this name already exists."
            )
        ],
    )
    credentials = CredentialsField(
        write_only=True,
        required=False,
        help_text=(
            "Write-only: never returned. `partner_center` takes `access_token`; `webhook` takes "
            "`signing_secret` (at least 24 bytes); the other kinds take none. An empty or "
            "missing value keeps the stored one, unless `endpoint` moves to another origin "
            "(scheme, host or port): the stored secret is never sent to a new host, so such a "
            "change needs it again."
        ),
    )
    has_credentials = serializers.SerializerMethodField()

    class Meta:
        model = Channel
        fields = [
            "url",
            "id",
            "name",
            "kind",
            "category",
            "tier",
            "endpoint",
            "credentials",
            "has_credentials",
            "enabled",
            "needs_attention",
            "last_error",
            "last_error_at",
            "created_at",
            "modified_at",
        ]
        read_only_fields = [
            "id",
            "needs_attention",
            "last_error",
            "last_error_at",
            "created_at",
            "modified_at",
        ]
        extra_kwargs = {
            "endpoint": {
                "help_text": (
                    "Partner Center API: its base URL; webhook: the URL requests are posted to "
                    "(both checked before they are stored); email: the address; manual: the "
                    "page of Microsoft's portal to file them in."
                )
            }
        }

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_has_credentials(self, channel) -> bool:
        return bool(channel.credentials_encrypted)

    def validate(self, attrs):
        kind = attrs.get("kind") or getattr(self.instance, "kind", None)
        credentials = attrs.get("credentials") or {}
        allowed = admin_services.REQUIRED_CREDENTIALS.get(kind)
        # The message names no key the caller sent: a secret may have been typed as a key.
        if any(key != allowed for key in credentials):
            takes = f"only `{allowed}`" if allowed else "no credentials"
            raise serializers.ValidationError(
                {"credentials": [f"A {kind} channel takes {takes}; remove the others."]}
            )
        return attrs

    def _nest(self):
        return dict.fromkeys(admin_services.REQUIRED_CREDENTIALS.values(), "credentials")

    def create(self, validated_data):
        request = self.context["request"]
        return _through_service(
            admin_services.create_channel,
            actor=request.user,
            request=request,
            nest=self._nest(),
            **validated_data,
        )

    def update(self, instance, validated_data):
        request = self.context["request"]
        return _through_service(
            admin_services.update_channel,
            instance,
            actor=request.user,
            request=request,
            nest=self._nest(),
            **validated_data,
        )


@extend_schema(tags=["support"])
@extend_schema_view(
    list=extend_schema(
        summary="List support channels",
        description=f"Support channels (see `needs_attention`). {SYNC_LIST_NOTE}",
    ),
    retrieve=extend_schema(summary="Get a support channel"),
    create=extend_schema(summary="Add a support channel"),
    update=extend_schema(
        summary="Replace a support channel",
        description=(
            "Leave out `credentials` to keep the stored ones, unless `endpoint` moves to another "
            "origin: that needs the secret again. Changing the kind, endpoint or a secret, or "
            "enabling it again, clears `needs_attention`."
        ),
    ),
    partial_update=extend_schema(
        summary="Update a support channel",
        description=(
            "Only the fields given change; moving `endpoint` to another origin needs the secret "
            "in `credentials` again. Changing the kind, endpoint or a secret, or enabling it "
            "again, clears `needs_attention`."
        ),
    ),
)
class ChannelViewSet(NoDeleteViewSet):
    """Where escalations go. Global admins only; channels are disabled, never deleted."""

    required_capabilities = {"read": MANAGE, "write": MANAGE}
    api_resource = ApiResource.SUPPORT_CONFIG
    serializer_class = ChannelSerializer
    filterset_class = ModifiedSinceFilterSet
    pagination_class = SyncCursorPagination
    lookup_value_regex = "[0-9]+"

    def get_queryset(self):
        return Channel.objects.visible_to(self.request.user).order_by(
            "-needs_attention", "category", "name", "pk"
        )


# --- routing rules ------------------------------------------------------------------------------


ROUTING_RULE_EXAMPLE = {
    "position": 10,
    "name": "Critical Exchange to Premier",
    "category": "technical",
    "severity": "critical",
    "support_topic": 8,
    "customer_tag": "premier",
    "channel": 3,
    "enabled": True,
}


@examples(
    "Critical Exchange to Premier",
    request=ROUTING_RULE_EXAMPLE,
    response={
        "url": f"{EXAMPLE_API}/routing-rules/12/",
        "id": 12,
        **ROUTING_RULE_EXAMPLE,
        "modified_at": "2025-10-14T16:35:00Z",
    },
)
class RoutingRuleSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api-v1:routing-rule-detail")

    class Meta:
        model = RoutingRule
        fields = [
            "url",
            "id",
            "position",
            "name",
            "category",
            "severity",
            "support_topic",
            "customer_tag",
            "channel",
            "enabled",
            "modified_at",
        ]
        read_only_fields = ["id", "modified_at"]
        extra_kwargs = {
            "position": {"help_text": "Rules are tried from the lowest number up."},
            "category": {"help_text": "Empty matches any."},
            "severity": {"help_text": "Empty matches any."},
            "support_topic": {"help_text": "A support topic's id; null matches any."},
            "customer_tag": {"help_text": "Matches customers with this tag; empty matches any."},
            "channel": {"help_text": "The id of the channel a matching request goes to."},
        }

    def validate_customer_tag(self, value):
        return value.strip()

    def validate(self, attrs):
        def current(name):
            return attrs[name] if name in attrs else getattr(self.instance, name, None)

        category, topic, channel = current("category"), current("support_topic"), current("channel")
        errors = {}
        if category and topic is not None and topic.category != category:
            errors["support_topic"] = [
                f"This topic is {topic.category}; the rule asks for {category}."
            ]
        wanted = category or (topic.category if topic is not None else "")
        if channel is not None and wanted and channel.category != wanted:
            errors["channel"] = [
                f"{channel} takes {channel.category} requests: this rule would never send to it."
            ]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs

    def create(self, validated_data):
        request = self.context["request"]
        return _through_service(
            admin_services.create_rule, actor=request.user, request=request, **validated_data
        )

    def update(self, instance, validated_data):
        request = self.context["request"]
        return _through_service(
            admin_services.update_rule,
            instance,
            actor=request.user,
            request=request,
            **validated_data,
        )


@examples(
    "A critical Exchange request",
    request={
        "category": "technical",
        "severity": "critical",
        "support_topic": 8,
        "customer": "6babcaad-604b-40ac-a9d7-9fd97c0b779f",
    },
)
class RoutingTestSerializer(serializers.Serializer):
    category = serializers.ChoiceField(
        choices=CategoryChoices.choices,
        required=False,
        help_text="Leave it out to take the support topic's category.",
    )
    severity = serializers.ChoiceField(choices=SeverityChoices.choices)
    support_topic = serializers.PrimaryKeyRelatedField(
        queryset=SupportTopic.objects.all(), help_text="A support topic's id."
    )
    customer = CustomerTenantField(
        required=False,
        allow_null=True,
        help_text="The customer's tenant id; its tags can decide the route.",
    )


class RuleRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class RuleVerdictSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    position = serializers.IntegerField()
    matched = serializers.BooleanField(help_text="Whether all its conditions match.")
    why = serializers.CharField(help_text="What matched, or the first condition that did not.")


@examples(
    "Matched a rule",
    response={
        "category": "technical",
        "channel": {"id": 3, "name": "Premier Support (Partner Center)", "kind": "partner_center"},
        "rule": {"id": 12, "name": "Critical Exchange to Premier"},
        "fallback": False,
        "explanation": (
            "Rule “Critical Exchange to Premier” matched: sent through Premier Support "
            "(Partner Center)."
        ),
        "rules": [
            {
                "id": 12,
                "name": "Critical Exchange to Premier",
                "position": 10,
                "matched": True,
                "why": "all conditions match",
            },
            {
                "id": 14,
                "name": "Billing to the commercial desk",
                "position": 20,
                "matched": False,
                "why": "category is technical, not commercial",
            },
        ],
    },
)
class RoutingDecisionSerializer(serializers.Serializer):
    category = serializers.ChoiceField(
        choices=CategoryChoices.choices, help_text="The category routing used."
    )
    channel = ChannelRefSerializer(
        allow_null=True, help_text="Where the request would go; null when nothing takes it."
    )
    rule = RuleRefSerializer(allow_null=True, help_text="The first matching rule, if any.")
    fallback = serializers.BooleanField(
        help_text="True when no rule matched and the category's first enabled channel takes it."
    )
    explanation = serializers.CharField()
    rules = RuleVerdictSerializer(many=True, help_text="Every rule, in the order tried.")


def _decision_data(decision, category):
    return {
        "category": category,
        "channel": decision.channel,
        "rule": decision.rule,
        "fallback": decision.fallback,
        "explanation": str(decision.explanation),
        "rules": [
            {
                "id": rule.pk,
                "name": rule.name,
                "position": rule.position,
                "matched": matched,
                "why": str(why),
            }
            for rule, matched, why in decision.reasons
        ],
    }


@extend_schema(tags=["support"])
@extend_schema_view(
    list=extend_schema(
        summary="List routing rules",
        description=(
            "Rules are tried by `position`, lowest first (the list itself is in sync order). "
            f"{SYNC_LIST_NOTE}"
        ),
    ),
    retrieve=extend_schema(summary="Get a routing rule"),
    create=extend_schema(summary="Add a routing rule"),
    update=extend_schema(summary="Replace a routing rule"),
    partial_update=extend_schema(summary="Update a routing rule"),
)
class RoutingRuleViewSet(NoDeleteViewSet):
    """Ordered rules that pick a request's channel. Global admins only; disable, never delete."""

    required_capabilities = {"read": MANAGE, "write": MANAGE}
    api_resource = ApiResource.SUPPORT_CONFIG
    serializer_class = RoutingRuleSerializer
    filterset_class = ModifiedSinceFilterSet
    pagination_class = SyncCursorPagination
    lookup_value_regex = "[0-9]+"

    def get_queryset(self):
        return RoutingRule.objects.filter(
            channel__in=Channel.objects.visible_to(self.request.user)
        ).order_by("position", "pk")

    @extend_schema(
        summary="Test routing",
        description=(
            "Routes an imagined request without opening anything: the channel it would go to, "
            "the rule that chose it (or the fallback), and for every rule whether it matched "
            "and why."
        ),
        request=RoutingTestSerializer,
        responses=RoutingDecisionSerializer,
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="test",
        url_name="test",
        serializer_class=RoutingTestSerializer,
        pagination_class=None,
        filter_backends=[],
    )
    def test_routing(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        topic, customer = data["support_topic"], data.get("customer")
        category = data.get("category") or topic.category
        decision = routing.route(
            category=category,
            severity=data["severity"],
            support_topic=topic,
            customer_tags=list(customer.tags.values_list("name", flat=True)) if customer else [],
        )
        return Response(RoutingDecisionSerializer(_decision_data(decision, category)).data)
