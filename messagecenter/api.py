"""The Message center API: Microsoft's Message center posts with the customers they reach.

Read-only (the polls write them), with incremental sync like the other collections. Lookups use
Microsoft's id (``MC123456``). Its scope is the service-health resource: the Message center is
part of Microsoft's service communications, read from the same feeds.
"""

from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets

from accounts.roles import Capability
from accounts.scopes import ApiResource
from core.api import sync_list_description
from core.openapi import EXAMPLE_API, GROWING_NOTE, examples
from core.pagination import SyncCursorPagination
from customers.models import Customer
from customers.serializers import CustomerLinkSerializer
from messagecenter.filters import MessageApiFilterSet
from messagecenter.models import REPORTED_FIELDS, MessageRecipient, ServiceMessage


class MessageRecipientSerializer(CustomerLinkSerializer):
    class Meta:
        model = MessageRecipient
        fields = ["tenant_id", "company_name", "first_seen_at"]
        read_only_fields = fields


@examples(
    "A retirement",
    response={
        "url": f"{EXAMPLE_API}/messages/MC123456/",
        "microsoft_id": "MC123456",
        "title": "Exchange Online: retiring Basic authentication for SMTP AUTH",
        "category": "planForChange",
        "severity": "high",
        "services": ["Exchange Online"],
        "tags": ["Admin impact", "Retirement"],
        "is_major_change": True,
        "action_required_by": "2026-03-01T00:00:00Z",
        "started_at": "2025-11-20T17:00:00Z",
        "ended_at": "2026-04-30T07:00:00Z",
        "last_modified_at": "2025-11-27T09:40:00Z",
        "body_content_type": "html",
        "body": "<p>We're retiring Basic authentication for SMTP AUTH.</p>",
        "details": [{"name": "ExternalLink", "value": "https://learn.microsoft.com/"}],
        "customer_count": 1,
        "customers": [
            {
                "tenant_id": "6babcaad-604b-40ac-a9d7-9fd97c0b779f",
                "company_name": "Contoso Ltd",
                "first_seen_at": "2025-11-20T17:05:00Z",
            }
        ],
        "created_at": "2025-11-20T17:05:00Z",
        "modified_at": "2025-11-27T09:40:05Z",
    },
)
class ServiceMessageSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(
        view_name="api-v1:message-detail", lookup_field="microsoft_id"
    )
    category = serializers.CharField(
        read_only=True,
        help_text=f"preventOrManage, planForChange or stayInformed. {GROWING_NOTE}",
    )
    severity = serializers.CharField(
        read_only=True, help_text=f"normal, high or critical. {GROWING_NOTE}"
    )
    services = serializers.ListField(child=serializers.CharField(), read_only=True)
    tags = serializers.ListField(child=serializers.CharField(), read_only=True)
    body = serializers.CharField(
        read_only=True, help_text="Microsoft's HTML as sent: sanitise it before showing it."
    )
    details = serializers.ListField(
        child=serializers.DictField(child=serializers.CharField()), read_only=True
    )
    customer_count = serializers.SerializerMethodField()
    customers = MessageRecipientSerializer(
        source="recipient_list", many=True, read_only=True, help_text="The customers it reaches."
    )

    class Meta:
        model = ServiceMessage
        fields = [
            "url",
            "microsoft_id",
            *REPORTED_FIELDS,
            "customer_count",
            "customers",
            "created_at",
            "modified_at",
        ]
        read_only_fields = fields

    def get_customer_count(self, message) -> int:
        return len(message.recipient_list)


@extend_schema(tags=["messages"])
@extend_schema_view(
    list=extend_schema(
        summary="List Message center posts",
        description=sync_list_description("Messages ordered by last modification in the portal"),
    ),
    retrieve=extend_schema(summary="Get a Message center post"),
)
class ServiceMessageViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Support roles read the Message center."""

    required_capabilities = {"read": Capability.VIEW_SUPPORT, "write": Capability.VIEW_SUPPORT}
    api_resource = ApiResource.SERVICE_HEALTH
    serializer_class = ServiceMessageSerializer
    filterset_class = MessageApiFilterSet
    pagination_class = SyncCursorPagination
    lookup_field = "microsoft_id"
    lookup_value_regex = "[A-Za-z0-9_-]+"

    def get_queryset(self):
        customers = Customer.objects.visible_to(self.request.user)
        recipients = MessageRecipient.objects.filter(customer__in=customers).by_customer_name()
        return ServiceMessage.objects.visible_to(self.request.user).prefetch_related(
            Prefetch("recipients", queryset=recipients, to_attr="recipient_list")
        )
