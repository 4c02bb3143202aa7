"""The service health API's OpenAPI text: the examples its serializers show and the note on
Graph's statuses (``core.openapi.examples`` attaches the examples)."""

from core.openapi import EXAMPLE_API

STATUS_NOTE = (
    "Graph's serviceHealthStatus, kept as sent: values Microsoft adds later appear as they are."
)

SERVICE_RESPONSE = {
    "id": "Exchange",
    "name": "Exchange Online",
    "status": "serviceDegradation",
    "status_label": "Service degradation",
    "status_severity": 3,
    "affected_customers": 4,
    "modified_at": "2025-11-27T09:05:00Z",
}
HEALTH_RESPONSE = {
    "customer": {
        "tenant_id": "6babcaad-604b-40ac-a9d7-9fd97c0b779f",
        "company_name": "Contoso Ltd",
    },
    "service": {"id": "Exchange", "name": "Exchange Online"},
    "status": "serviceDegradation",
    "status_label": "Service degradation",
    "since": "2025-11-27T09:05:00Z",
    "modified_at": "2025-11-27T09:05:00Z",
}
FEED_SOURCE_EXAMPLE = {
    "name": "Contoso service health",
    "customer": "6babcaad-604b-40ac-a9d7-9fd97c0b779f",
    "tenant_id": "6babcaad-604b-40ac-a9d7-9fd97c0b779f",
    "base_url": "https://graph.microsoft.com/v1.0",
    "token_url": "https://login.microsoftonline.com/{tenant_id}/oauth2/v2.0/token",
    "client_id": "2f1c7a43-9b7e-4d51-8d0e-3c2a6f4b9e10",
    "poll_interval_seconds": 300,
    "enabled": True,
    "auth_mode": "client_credentials",
}
FEED_SOURCE_REQUEST = {**FEED_SOURCE_EXAMPLE, "client_secret": "Zx18Q~example-client-secret"}
FEED_SOURCE_RESPONSE = {
    "url": f"{EXAMPLE_API}/feed-sources/7/",
    "id": 7,
    **FEED_SOURCE_EXAMPLE,
    "has_client_secret": True,
    "next_poll_at": "2025-11-27T09:10:00Z",
    "last_polled_at": "2025-11-27T09:05:00Z",
    "last_success_at": "2025-11-27T09:05:00Z",
    "last_error": "",
    "access_problem": "",
    "needs_attention": False,
    "consecutive_failures": 0,
    "failing_since": None,
    "created_at": "2025-03-02T10:30:00Z",
    "modified_at": "2025-03-02T10:30:00Z",
}
POLL_QUEUED = "A poll of this source has been queued."
