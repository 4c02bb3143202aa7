"""The service requests API's OpenAPI text: the examples its serializers show, the notes its lists
share, and what only opening a request has (the ``Idempotency-Key`` header, its 409, 422 and 429
answers and their examples). ``core.openapi.examples`` attaches a serializer's examples; the views
cite the rest.

The example of a request as the API shows it is ``servicerequests.serializers.CREATED_EXAMPLE``,
beside the serializer that events use too.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse
from drf_standardized_errors.openapi_serializers import ClientErrorEnum, ErrorResponse429Serializer
from rest_framework import serializers

from core.openapi import EXAMPLE_API, error_example
from servicerequests import idempotency
from servicerequests.models import Channel
from servicerequests.serializers import CREATE_EXAMPLE, CREATED_EXAMPLE

PLAIN_LIST_NOTE = "A plain list, not paginated."
SYNC_LIST_NOTE = (
    "Ordered by last modification, oldest first, with cursor pagination; pass "
    "`modified_since` and follow `next` for incremental sync."
)
# The kinds of support channel, as the schema names them (SPECTACULAR_SETTINGS' enum overrides).
CHANNEL_KIND_CHOICES = Channel._meta.get_field("kind").choices

# --- opening a service request ------------------------------------------------------------------


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
CREATE_PARAMETERS = [IDEMPOTENCY_KEY, *CREATED_HEADERS]
CREATE_ERRORS = {
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
}
CREATE_EXAMPLES = [
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
]

# --- notes and the timeline ---------------------------------------------------------------------

NOTE_TEXT = "Customer confirms external mail has flowed normally since 10:05 UTC."
NOTE_REQUEST = {"text": NOTE_TEXT}
NOTE_RESPONSE = {
    "id": 311,
    "author_name": "Sam Lee",
    "text": NOTE_TEXT,
    "from_channel": False,
    "created_at": "2025-11-27T10:12:00Z",
}
ROUTED_EXPLANATION = (
    "Rule “Critical Exchange to Premier” matched: sent through Premier Support (Partner Center)."
)
TIMELINE_ENTRY_RESPONSE = {
    "kind": "routed",
    "message": ROUTED_EXPLANATION,
    "actor_name": "",
    "created_at": "2025-11-27T09:10:00Z",
}

# --- support topics, channels and routing rules -------------------------------------------------

SUPPORT_TOPIC_REQUEST = {
    "name": "Exchange Online",
    "description": "Mail flow, mailboxes, calendars and Exchange Online Protection.",
    "category": "technical",
    "partner_center_id": "32444673",
    "active": True,
}
SUPPORT_TOPIC_RESPONSE = {
    "url": f"{EXAMPLE_API}/support-topics/8/",
    "id": 8,
    **SUPPORT_TOPIC_REQUEST,
    "modified_at": "2025-06-02T08:00:00Z",
}
CHANNEL_EXAMPLE = {
    "name": "Premier Support (Partner Center)",
    "kind": "partner_center",
    "category": "technical",
    "tier": "premier",
    "endpoint": "https://api.partnercenter.microsoft.com",
    "enabled": True,
}
CHANNEL_REQUEST = {**CHANNEL_EXAMPLE, "credentials": {"access_token": "eyJ0eXAiOiJKV1Qi.example"}}
CHANNEL_RESPONSE = {
    "url": f"{EXAMPLE_API}/channels/3/",
    "id": 3,
    **CHANNEL_EXAMPLE,
    "has_credentials": True,
    "needs_attention": False,
    "last_error": "",
    "last_error_at": None,
    "created_at": "2025-03-01T12:00:00Z",
    "modified_at": "2025-10-14T16:30:00Z",
}
ROUTING_RULE_REQUEST = {
    "position": 10,
    "name": "Critical Exchange to Premier",
    "category": "technical",
    "severity": "critical",
    "support_topic": 8,
    "customer_tag": "premier",
    "channel": 3,
    "enabled": True,
}
ROUTING_RULE_RESPONSE = {
    "url": f"{EXAMPLE_API}/routing-rules/12/",
    "id": 12,
    **ROUTING_RULE_REQUEST,
    "modified_at": "2025-10-14T16:35:00Z",
}
ROUTING_TEST_REQUEST = {
    "category": "technical",
    "severity": "critical",
    "support_topic": 8,
    "customer": "6babcaad-604b-40ac-a9d7-9fd97c0b779f",
}
ROUTING_DECISION_RESPONSE = {
    "category": "technical",
    "channel": {"id": 3, "name": "Premier Support (Partner Center)", "kind": "partner_center"},
    "rule": {"id": 12, "name": "Critical Exchange to Premier"},
    "fallback": False,
    "explanation": ROUTED_EXPLANATION,
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
}
