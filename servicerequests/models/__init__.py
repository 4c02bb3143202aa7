"""The service request app's models: requests and what they are made of
(``service_request``), and their outbox rows (``outbox``). Import them from here."""

from servicerequests.choices import (
    CategoryChoices,
    DeliveryStateChoices,
    SeverityChoices,
    StatusChoices,
    TierChoices,
    TimelineKindChoices,
)
from servicerequests.models.outbox import (
    Delivery,
    DeliveryAttempt,
    NoteDelivery,
    NoteDeliveryAttempt,
    delivery_of,
)
from servicerequests.models.service_request import (
    ApiIdempotencyKey,
    CallbackNonce,
    Channel,
    ChannelQuerySet,
    RoutingRule,
    ServiceRequest,
    ServiceRequestNote,
    ServiceRequestQuerySet,
    SupportTopic,
    TimelineEntry,
    english,
    render_message,
    response_breached,
)

__all__ = [
    "ApiIdempotencyKey",
    "CallbackNonce",
    "CategoryChoices",
    "Channel",
    "ChannelQuerySet",
    "Delivery",
    "DeliveryAttempt",
    "DeliveryStateChoices",
    "NoteDelivery",
    "NoteDeliveryAttempt",
    "RoutingRule",
    "ServiceRequest",
    "ServiceRequestNote",
    "ServiceRequestQuerySet",
    "SeverityChoices",
    "StatusChoices",
    "SupportTopic",
    "TierChoices",
    "TimelineEntry",
    "TimelineKindChoices",
    "delivery_of",
    "english",
    "render_message",
    "response_breached",
]
