"""The service requests API: service requests with their notes and timeline, the support topics,
and (for Global admins) the support channels, the routing rules and a routing test.

Thin viewsets over ``servicerequests.api.serializers`` (requests) and ``admin_serializers`` (the
support configuration); the examples and longer OpenAPI texts are ``servicerequests.api.schema``.
A create may carry an ``Idempotency-Key`` (see ``servicerequests.idempotency``). Lookups use the
request's number (``SR-000123``). API texts are plain English, like the rest of the API.
"""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.roles import Capability
from accounts.scopes import ApiResource
from core.api import NoDeleteViewSet, nested_list_action, sync_list_description
from core.incremental import ModifiedSinceFilterSet
from core.listing import ValuesListMixin
from core.pagination import SyncCursorPagination
from core.throttling import ServiceRequestCreateThrottle
from servicerequests import events, idempotency, routing, services
from servicerequests.api import schema
from servicerequests.api.admin_serializers import (
    ChannelSerializer,
    RoutingDecisionSerializer,
    RoutingRuleSerializer,
    RoutingTestSerializer,
    SupportTopicSerializer,
    decision_data,
)
from servicerequests.api.serializers import (
    SERVICE_REQUEST_LIST_COLUMNS,
    NoteSerializer,
    ServiceRequestCreateSerializer,
    ServiceRequestUpdateSerializer,
    TimelineEntrySerializer,
    service_request_list_data,
)
from servicerequests.filters import ServiceRequestApiFilterSet, SupportTopicFilterSet
from servicerequests.models import Channel, RoutingRule, ServiceRequest, SupportTopic
from servicerequests.serializers import ServiceRequestSerializer

VIEW = Capability.VIEW_SUPPORT
WORK = Capability.WORK_SUPPORT
MANAGE = Capability.MANAGE_INTEGRATIONS


@extend_schema(tags=["service requests"])
@extend_schema_view(
    list=extend_schema(
        summary="List service requests",
        description=sync_list_description("Service requests ordered by last modification"),
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
        parameters=schema.CREATE_PARAMETERS,
        request=ServiceRequestCreateSerializer,
        responses={201: ServiceRequestSerializer, **schema.CREATE_ERRORS},
        examples=schema.CREATE_EXAMPLES,
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
    ValuesListMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Escalations to Microsoft. Support roles read, open, update and comment."""

    required_capabilities = {"read": VIEW, "write": WORK}
    api_resource = ApiResource.SERVICE_REQUESTS
    serializer_class = ServiceRequestSerializer
    filterset_class = ServiceRequestApiFilterSet
    pagination_class = SyncCursorPagination
    lookup_field = "number"
    lookup_value_regex = "SR-[0-9]+"
    list_columns = SERVICE_REQUEST_LIST_COLUMNS

    def get_queryset(self):
        return ServiceRequest.objects.visible_to(self.request.user).select_related(
            "support_topic", "customer", "channel", "incident", "assignee", "delivery"
        )

    def list_data(self, rows, links):
        return service_request_list_data(rows, links)

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
        # As written, its relations in memory: reading it back would only repeat the join. The
        # event recorded with it carries that representation already; only the link differs.
        data = events.on_address(service_request.opened_event.payload, service_request, request)
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
        description=f"Oldest first. {schema.PLAIN_LIST_NOTE}",
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

    @nested_list_action(
        summary="List a service request's timeline",
        description=(
            "Everything that happened to it, oldest first: opened, routed, delivery attempts, "
            f"status changes, notes, assignments. {schema.PLAIN_LIST_NOTE}"
        ),
        serializer_class=TimelineEntrySerializer,
    )
    def timeline(self, request, number=None):
        service_request = self.get_object()
        entries = service_request.timeline.order_by("created_at", "pk")
        return Response(self.get_serializer(entries, many=True).data)


# --- support configuration ----------------------------------------------------------------------


class SupportConfigViewSet(NoDeleteViewSet):
    """The support configuration: synced lists, looked up by id; Global admins write."""

    required_capabilities = {"read": MANAGE, "write": MANAGE}
    api_resource = ApiResource.SUPPORT_CONFIG
    pagination_class = SyncCursorPagination
    lookup_value_regex = "[0-9]+"


def _support_config_schema(things, thing, list_description, **operations):
    """The OpenAPI texts of a support-configuration endpoint; ``operations`` replace the plain
    "Get/Add/Replace/Update a …" ones."""
    return extend_schema_view(
        list=extend_schema(summary=f"List {things}", description=list_description),
        **{
            "retrieve": extend_schema(summary=f"Get a {thing}"),
            "create": extend_schema(summary=f"Add a {thing}"),
            "update": extend_schema(summary=f"Replace a {thing}"),
            "partial_update": extend_schema(summary=f"Update a {thing}"),
            **operations,
        },
    )


@extend_schema(tags=["support"])
@_support_config_schema(
    "support topics",
    "support topic",
    f"Partner Center's support topics. {schema.SYNC_LIST_NOTE}",
)
class SupportTopicViewSet(SupportConfigViewSet):
    """Support roles read the topics; Global admins add and change them (none is deleted)."""

    required_capabilities = {"read": VIEW, "write": MANAGE}
    serializer_class = SupportTopicSerializer
    filterset_class = SupportTopicFilterSet

    def get_queryset(self):
        return SupportTopic.objects.order_by("category", "name", "pk")


@extend_schema(tags=["support"])
@_support_config_schema(
    "support channels",
    "support channel",
    f"Support channels (see `needs_attention`). {schema.SYNC_LIST_NOTE}",
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
class ChannelViewSet(SupportConfigViewSet):
    """Where escalations go. Global admins only; channels are disabled, never deleted."""

    serializer_class = ChannelSerializer
    filterset_class = ModifiedSinceFilterSet

    def get_queryset(self):
        return Channel.objects.visible_to(self.request.user).order_by(
            "-needs_attention", "category", "name", "pk"
        )


@extend_schema(tags=["support"])
@_support_config_schema(
    "routing rules",
    "routing rule",
    "Rules are tried by `position`, lowest first (the list itself is in sync order). "
    f"{schema.SYNC_LIST_NOTE}",
)
class RoutingRuleViewSet(SupportConfigViewSet):
    """Ordered rules that pick a request's channel. Global admins only; disable, never delete."""

    serializer_class = RoutingRuleSerializer
    filterset_class = ModifiedSinceFilterSet

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
        return Response(RoutingDecisionSerializer(decision_data(decision, category)).data)
