"""The incidents API: Microsoft's incidents and advisories with the customers they affect, their
posts, and acknowledging them.

Incidents are read-only here (the feeds write them); acknowledging goes through
``incidents.services``, which writes the audit entry. Lookups use Microsoft's id (``EX123456``).
"""

from collections import defaultdict
from functools import cache

from django.db.models import DateTimeField, F, Prefetch
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.roles import Capability
from accounts.scopes import ApiResource
from core.api import nested_list_action, sync_list_description
from core.listing import ValuesListMixin, ValueWriter, children_of
from core.openapi import EXAMPLE_API, GROWING_NOTE, examples
from core.pagination import SyncCursorPagination
from customers.models import Customer
from customers.serializers import CustomerLinkSerializer
from incidents import services
from incidents.filters import IncidentApiFilterSet
from incidents.models import (
    REPORTED_FIELDS,
    Acknowledgement,
    AffectedCustomer,
    Incident,
    IncidentPost,
)
from incidents.status import status_label


class AffectedCustomerSerializer(CustomerLinkSerializer):
    class Meta:
        model = AffectedCustomer
        fields = ["tenant_id", "company_name"]
        read_only_fields = fields


ACKNOWLEDGEMENT_EXAMPLE = {
    "user": "helpdesk@partner.example",
    "user_name": "Sam Lee",
    "note": "Customers told; watching Microsoft's next update.",
    "created_at": "2025-11-27T09:20:00Z",
}


@examples("By an agent", response=ACKNOWLEDGEMENT_EXAMPLE)
class AcknowledgementSerializer(serializers.ModelSerializer):
    user = serializers.EmailField(
        source="user.email",
        read_only=True,
        allow_null=True,
        help_text="Who acknowledged: a staff email or an API client's address; null if deleted.",
    )
    user_name = serializers.CharField(
        source="user.get_full_name",
        read_only=True,
        allow_null=True,
        help_text="Their full name (an API client's name), else their email.",
    )

    class Meta:
        model = Acknowledgement
        fields = ["user", "user_name", "note", "created_at"]
        read_only_fields = fields


@examples("With a note", request={"note": ACKNOWLEDGEMENT_EXAMPLE["note"]})
class AcknowledgeSerializer(serializers.Serializer):
    note = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=4000,
        help_text="What the desk is doing about it; shown with the acknowledgement.",
    )


@examples(
    "Mail delayed",
    response={
        "url": f"{EXAMPLE_API}/incidents/EX123456/",
        "microsoft_id": "EX123456",
        "classification": "incident",
        "status": "serviceDegradation",
        "status_label": "Service degradation",
        "title": "Users may experience delays sending mail to external recipients",
        "impact_description": (
            "Users may see delays of up to 30 minutes when sending mail to external recipients."
        ),
        "service": "Exchange Online",
        "feature": "E-Mail and calendar access",
        "feature_group": "Email and calendar",
        "origin": "microsoft",
        "is_resolved": False,
        "high_impact": True,
        "started_at": "2025-11-27T08:55:00Z",
        "ended_at": None,
        "last_modified_at": "2025-11-27T09:40:00Z",
        "affected_customers": [
            {"tenant_id": "6babcaad-604b-40ac-a9d7-9fd97c0b779f", "company_name": "Contoso Ltd"}
        ],
        "acknowledgement_count": 1,
        "last_acknowledgement": ACKNOWLEDGEMENT_EXAMPLE,
        "created_at": "2025-11-27T09:00:12Z",
        "modified_at": "2025-11-27T09:40:05Z",
    },
)
class IncidentSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(
        view_name="api-v1:incident-detail", lookup_field="microsoft_id"
    )
    classification = serializers.CharField(
        read_only=True, help_text=f"incident or advisory. {GROWING_NOTE}"
    )
    status = serializers.CharField(
        read_only=True, help_text=f"Graph's serviceHealthStatus. {GROWING_NOTE}"
    )
    status_label = serializers.CharField(read_only=True)
    origin = serializers.CharField(
        read_only=True, help_text=f"microsoft, thirdParty or customer. {GROWING_NOTE}"
    )
    affected_customers = AffectedCustomerSerializer(
        source="affected", many=True, read_only=True, help_text="The customers it affects."
    )
    acknowledgement_count = serializers.SerializerMethodField()
    last_acknowledgement = serializers.SerializerMethodField()

    class Meta:
        model = Incident
        # status_label right after status (classification, status, …).
        fields = [
            "url",
            "microsoft_id",
            *REPORTED_FIELDS[:2],
            "status_label",
            *REPORTED_FIELDS[2:],
            "affected_customers",
            "acknowledgement_count",
            "last_acknowledgement",
            "created_at",
            "modified_at",
        ]
        read_only_fields = fields

    def get_acknowledgement_count(self, incident) -> int:
        return len(incident.acknowledgement_list)

    @extend_schema_field(AcknowledgementSerializer(allow_null=True))
    def get_last_acknowledgement(self, incident):
        acknowledgements = incident.acknowledgement_list
        return AcknowledgementSerializer(acknowledgements[0]).data if acknowledgements else None


@examples(
    "An update",
    response={
        "posted_at": "2025-11-27T09:40:00Z",
        "post_type": "regular",
        "content_type": "html",
        "content": (
            "<p>Title: Delays sending mail to external recipients</p><p>Current status: We've "
            "identified a recent configuration change as the cause and are reverting it.</p>"
        ),
    },
)
class IncidentPostSerializer(serializers.ModelSerializer):
    class Meta:
        model = IncidentPost
        fields = ["posted_at", "post_type", "content_type", "content"]
        read_only_fields = fields


def affected_links(customers):
    """Incidents' links to those of ``customers`` they affect, in the order the API gives them."""
    links = AffectedCustomer.objects.order_by("customer__company_name", "customer_id")
    # A caller who sees every customer (``visible_to`` narrowed nothing) needs no subquery of
    # all of them: the database would plan and run one per request for nothing.
    return links.filter(customer__in=customers) if customers.query.has_filters() else links


def newest_acknowledgements():
    return Acknowledgement.objects.order_by("-created_at", "-pk")


# What the list reads: IncidentSerializer's fields from plain values (core.listing).
INCIDENT_LIST_COLUMNS = ("pk", "microsoft_id", *REPORTED_FIELDS, "created_at", "modified_at")


@cache
def _reported_times():
    """The REPORTED_FIELDS that are times (written as DRF writes them); the rest are written as
    read."""
    return tuple(
        name
        for name in REPORTED_FIELDS
        if isinstance(Incident._meta.get_field(name), DateTimeField)
    )


def affected_customers_of(incident_ids, customers):
    """``{incident id: [AffectedCustomerSerializer's representation, …]}`` of the incidents'
    links to ``customers``: one query of plain tuples, none when there are no incidents."""
    affected = defaultdict(list)
    links = affected_links(customers).filter(incident_id__in=incident_ids)
    for incident_id, tenant_id, company_name in links.values_list(
        "incident_id", "customer__tenant_id", "customer__company_name"
    ):
        affected[incident_id].append({"tenant_id": str(tenant_id), "company_name": company_name})
    return affected


def incident_list_data(rows, links, customers):
    """IncidentSerializer's representation of ``rows`` (``INCIDENT_LIST_COLUMNS`` values): the
    affected ``customers`` and the acknowledgements in one query each."""
    ids = [row["pk"] for row in rows]
    affected = affected_customers_of(ids, customers)
    acknowledgements = children_of(
        newest_acknowledgements(),
        "incident_id",
        ids,
        "note",
        "created_at",
        email=F("user__email"),
        full_name=F("user__full_name"),
    )
    write = ValueWriter()
    times = _reported_times()
    # A page holds a few statuses: each label is translated once, not once a row.
    labels = {}
    data = []
    for row in rows:
        pk = row["pk"]
        status = row["status"]
        label = labels.get(status)
        if label is None:
            label = labels[status] = str(status_label(status))
        item = {
            "url": links(row["microsoft_id"]),
            "microsoft_id": row["microsoft_id"],
            "classification": row["classification"],
            "status": status,
            "status_label": label,
        }
        for name in REPORTED_FIELDS[2:]:
            item[name] = row[name]
        for name in times:
            item[name] = write.time(item[name])
        acknowledged = acknowledgements.get(pk, ())
        item["affected_customers"] = affected.get(pk, [])
        item["acknowledgement_count"] = len(acknowledged)
        item["last_acknowledgement"] = (
            _acknowledgement_data(acknowledged[0], write) if acknowledged else None
        )
        item["created_at"] = write.time(row["created_at"])
        item["modified_at"] = write.time(row["modified_at"])
        data.append(item)
    return data


def _acknowledgement_data(row, write):
    """AcknowledgementSerializer's representation of a values row (a deleted user: nulls)."""
    return {
        "user": row["email"],
        "user_name": row["full_name"] or row["email"],
        "note": row["note"],
        "created_at": write.time(row["created_at"]),
    }


@extend_schema(tags=["incidents"])
@extend_schema_view(
    list=extend_schema(
        summary="List incidents and advisories",
        description=sync_list_description("Incidents ordered by last modification in the portal"),
    ),
    retrieve=extend_schema(summary="Get an incident"),
)
class IncidentViewSet(
    ValuesListMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Support roles read incidents and acknowledge them."""

    required_capabilities = {"read": Capability.VIEW_SUPPORT, "write": Capability.WORK_SUPPORT}
    api_resource = ApiResource.INCIDENTS
    serializer_class = IncidentSerializer
    filterset_class = IncidentApiFilterSet
    pagination_class = SyncCursorPagination
    lookup_field = "microsoft_id"
    lookup_value_regex = "[A-Za-z0-9_-]+"
    list_columns = INCIDENT_LIST_COLUMNS
    queryset = Incident.objects.all()

    def detail_prefetches(self):
        return (
            Prefetch(
                "affected",
                queryset=affected_links(self._customers()).select_related("customer"),
            ),
            Prefetch(
                "acknowledgements",
                queryset=newest_acknowledgements().select_related("user"),
                to_attr="acknowledgement_list",
            ),
        )

    def _customers(self):
        """The customers whose links an incident shows: those the caller may see."""
        return Customer.objects.visible_to(self.request.user)

    def list_data(self, rows, links):
        return incident_list_data(rows, links, self._customers())

    @nested_list_action(
        summary="List an incident's posts",
        description="Microsoft's updates, oldest first. A plain list, not paginated.",
        serializer_class=IncidentPostSerializer,
    )
    def posts(self, request, microsoft_id=None):
        incident = self.get_object()
        posts = incident.posts.order_by(F("posted_at").asc(nulls_last=True), "pk")
        return Response(self.get_serializer(posts, many=True).data)

    @extend_schema(
        summary="Acknowledge an incident",
        description="Records that the desk has seen it, with an optional note; audited.",
        request=AcknowledgeSerializer,
        responses={201: AcknowledgementSerializer},
    )
    @action(
        detail=True,
        methods=["post"],
        serializer_class=AcknowledgeSerializer,
        filter_backends=[],
    )
    def acknowledge(self, request, microsoft_id=None):
        incident = self.get_object()
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        acknowledgement = services.acknowledge(
            incident,
            user=request.user,
            note=serializer.validated_data.get("note", ""),
            request=request,
        )
        return Response(
            AcknowledgementSerializer(acknowledgement).data, status=status.HTTP_201_CREATED
        )
