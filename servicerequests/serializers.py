"""A service request as the API shows it, also the payload of the events about it.

Read-only, with no writes and no services: ``servicerequests.events`` builds event payloads from
it, and the services record those events, so it sits below them. The write serializers live in
``servicerequests.api.serializers``, above the services; merged there, this would close the
cycle events -> API -> services -> events.
"""

from rest_framework import serializers

from core.listing import ValueWriter
from core.openapi import EXAMPLE_API, examples
from customers.models import Customer
from servicerequests.models import (
    Channel,
    Delivery,
    ServiceRequest,
    SupportTopic,
    delivery_of,
    response_breached,
)


class SupportTopicRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = SupportTopic
        fields = ["id", "name"]
        read_only_fields = fields


class CustomerRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Customer
        fields = ["tenant_id", "company_name"]
        read_only_fields = fields


class ChannelRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Channel
        fields = ["id", "name", "kind"]
        read_only_fields = fields


class DeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = Delivery
        fields = ["state", "attempts", "next_attempt_at", "last_error", "delivered_at"]
        read_only_fields = fields


class PrimaryContactSerializer(serializers.Serializer):
    """The customer's contact Microsoft talks to."""

    name = serializers.CharField(source="contact_name", max_length=150)
    email = serializers.EmailField(source="contact_email", max_length=254)
    phone = serializers.CharField(
        source="contact_phone", max_length=40, required=False, allow_blank=True, default=""
    )


CREATE_EXAMPLE = {
    "title": "Mail flow to external recipients delayed",
    "description": (
        "Since 09:10 UTC mail to external recipients queues for 30+ minutes. "
        "Message trace shows 451 4.4.0 errors. EX123456 may be related."
    ),
    "severity": "critical",
    "support_topic": 8,
    "customer": "6babcaad-604b-40ac-a9d7-9fd97c0b779f",
    "primary_contact": {
        "name": "Pat Doe",
        "email": "pat@contoso.example",
        "phone": "+44 20 7946 0000",
    },
    "incident": "EX123456",
    "assignee": "helpdesk@partner.example",
    "locale": "en-US",
}
CREATED_EXAMPLE = {
    "url": f"{EXAMPLE_API}/service-requests/SR-000123/",
    "number": "SR-000123",
    "title": CREATE_EXAMPLE["title"],
    "description": CREATE_EXAMPLE["description"],
    "severity": "critical",
    "category": "technical",
    "status": "pending_delivery",
    "support_topic": {"id": 8, "name": "Exchange Online"},
    "customer": {
        "tenant_id": "6babcaad-604b-40ac-a9d7-9fd97c0b779f",
        "company_name": "Contoso Ltd",
    },
    "primary_contact": CREATE_EXAMPLE["primary_contact"],
    "channel": {"id": 3, "name": "Premier Support (Partner Center)", "kind": "partner_center"},
    "channel_reference": "",
    "incident": "EX123456",
    "assignee": "helpdesk@partner.example",
    "locale": "en-US",
    "response_due_at": "2025-11-27T11:10:00Z",
    "first_response_at": None,
    "is_breached": False,
    "created_at": "2025-11-27T09:10:00Z",
    "modified_at": "2025-11-27T09:10:00Z",
    "closed_at": None,
    "delivery": {
        "state": "pending",
        "attempts": 0,
        "next_attempt_at": "2025-11-27T09:10:00Z",
        "last_error": "",
        "delivered_at": None,
    },
}


@examples("Opened, waiting for delivery", response=CREATED_EXAMPLE)
class ServiceRequestSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(
        view_name="api-v1:service-request-detail", lookup_field="number"
    )
    support_topic = SupportTopicRefSerializer(read_only=True)
    customer = CustomerRefSerializer(read_only=True)
    primary_contact = PrimaryContactSerializer(source="*", read_only=True)
    channel = ChannelRefSerializer(
        read_only=True, allow_null=True, help_text="The support channel routing chose."
    )
    channel_reference = serializers.CharField(
        read_only=True, help_text="The channel's own id for it (Microsoft's number), once known."
    )
    incident = serializers.SlugRelatedField(
        slug_field="microsoft_id",
        read_only=True,
        allow_null=True,
        help_text="Microsoft's id of the incident it is about, if any.",
    )
    assignee = serializers.EmailField(
        source="assignee.email", read_only=True, allow_null=True, help_text="The assignee's email."
    )
    is_breached = serializers.BooleanField(
        read_only=True,
        help_text="Not closed, no first response yet, and past its first-response target.",
    )
    delivery = DeliverySerializer(
        read_only=True, allow_null=True, help_text="How sending it to its channel is going."
    )

    class Meta:
        model = ServiceRequest
        fields = [
            "url",
            "number",
            "title",
            "description",
            "severity",
            "category",
            "status",
            "support_topic",
            "customer",
            "primary_contact",
            "channel",
            "channel_reference",
            "incident",
            "assignee",
            "locale",
            "response_due_at",
            "first_response_at",
            "is_breached",
            "created_at",
            "modified_at",
            "closed_at",
            "delivery",
        ]
        read_only_fields = fields


# --- the same representation from plain values ---------------------------------------------------
# DRF's serializer reads each field through its machinery: about 950 Python calls to render one
# request, against 270 for the same dict from plain values. The API's list, the events and the
# open's answer write it from plain values; tests compare them with what a read shows.


def representation_data(row, related, url, write, now):
    """``ServiceRequestSerializer``'s representation from plain values: ``row`` has the request's
    columns (``support_topic_id``, ``channel_id``, ``contact_*``) and its delivery's
    (``delivery__…``; ``delivery__state`` None when it has none), ``related`` the related rows'
    (``support_topic__name``, ``customer__…``, ``channel__…``, ``incident__microsoft_id``,
    ``assignee__email``). ``write`` is a ``core.listing.ValueWriter``."""
    return {
        "url": url,
        "number": row["number"],
        "title": row["title"],
        "description": row["description"],
        "severity": row["severity"],
        "category": row["category"],
        "status": row["status"],
        "support_topic": {"id": row["support_topic_id"], "name": related["support_topic__name"]},
        "customer": {
            "tenant_id": str(related["customer__tenant_id"]),
            "company_name": related["customer__company_name"],
        },
        "primary_contact": {
            "name": row["contact_name"],
            "email": row["contact_email"],
            "phone": row["contact_phone"],
        },
        "channel": None
        if row["channel_id"] is None
        else {
            "id": row["channel_id"],
            "name": related["channel__name"],
            "kind": related["channel__kind"],
        },
        "channel_reference": row["channel_reference"],
        "incident": related["incident__microsoft_id"],
        "assignee": related["assignee__email"],
        "locale": row["locale"],
        "response_due_at": write.time(row["response_due_at"]),
        "first_response_at": write.time(row["first_response_at"]),
        "is_breached": response_breached(
            row["status"], row["first_response_at"], row["response_due_at"], now
        ),
        "created_at": write.time(row["created_at"]),
        "modified_at": write.time(row["modified_at"]),
        "closed_at": write.time(row["closed_at"]),
        "delivery": None
        if row["delivery__state"] is None
        else {
            "state": row["delivery__state"],
            "attempts": row["delivery__attempts"],
            "next_attempt_at": write.time(row["delivery__next_attempt_at"]),
            "last_error": row["delivery__last_error"],
            "delivered_at": write.time(row["delivery__delivered_at"]),
        },
    }


def _values(service_request):
    """``representation_data``'s ``row`` and ``related`` in one dict, read from an instance whose
    relations are loaded. Choices as their plain values, as the serializer's fields give them."""
    topic, customer = service_request.support_topic, service_request.customer
    channel, incident = service_request.channel, service_request.incident
    assignee, delivery = service_request.assignee, delivery_of(service_request)
    values = {
        name: getattr(service_request, name)
        for name in (
            "number",
            "title",
            "description",
            "channel_reference",
            "locale",
            "contact_name",
            "contact_email",
            "contact_phone",
            "support_topic_id",
            "channel_id",
            "response_due_at",
            "first_response_at",
            "created_at",
            "modified_at",
            "closed_at",
        )
    }
    for name in ("severity", "category", "status"):
        values[name] = str(getattr(service_request, name))
    values.update(
        support_topic__name=topic.name,
        customer__tenant_id=customer.tenant_id,
        customer__company_name=customer.company_name,
        channel__name=channel.name if channel else None,
        channel__kind=str(channel.kind) if channel else None,
        incident__microsoft_id=incident.microsoft_id if incident else None,
        assignee__email=assignee.email if assignee else None,
        delivery__state=str(delivery.state) if delivery else None,
    )
    if delivery is not None:
        for name in ("attempts", "next_attempt_at", "last_error", "delivered_at"):
            values[f"delivery__{name}"] = getattr(delivery, name)
    return values


def instance_data(service_request, url, now):
    """``ServiceRequestSerializer``'s representation of ``service_request`` (its relations
    loaded), linking to ``url``."""
    values = _values(service_request)
    return representation_data(values, values, url, ValueWriter(), now)
