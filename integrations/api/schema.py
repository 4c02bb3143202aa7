"""The integrations API's OpenAPI text: the examples its serializers show and the note its lists
share (``core.openapi.examples`` attaches the examples; the views cite the note)."""

from core.openapi import EXAMPLE_API

SYNC_NOTE = (
    "Ordered by last modification, oldest first, with cursor pagination. For incremental sync, "
    "pass `modified_since` and follow `next`."
)

DELIVERY_EXAMPLE = {
    "url": f"{EXAMPLE_API}/webhook-deliveries/311/",
    "id": 311,
    "subscription": 3,
    "message_id": "msg_5f0c2a9e8b7d4c1fa3e26b9d0c4e7a12",
    "event_id": "6f1c0e7a-2b4d-4c8e-9a1f-3d5e7b9c0a2f",
    "event_type": "incident.updated",
    "state": "delivered",
    "attempts": 1,
    "next_attempt_at": "2025-11-27T09:05:02Z",
    "delivered_at": "2025-11-27T09:05:02Z",
    "last_status_code": 204,
    "last_error": "",
    "created_at": "2025-11-27T09:05:01Z",
    "modified_at": "2025-11-27T09:05:02Z",
    "payload": {
        "type": "incident.updated",
        "timestamp": "2025-11-27T09:05:00Z",
        "data": {
            "event_id": "6f1c0e7a-2b4d-4c8e-9a1f-3d5e7b9c0a2f",
            "tenant_id": "6babcaad-604b-40ac-a9d7-9fd97c0b779f",
            "object_type": "incident",
            "object_id": "EX123456",
            "consolidation_key": "incident:EX123456:6babcaad-604b-40ac-a9d7-9fd97c0b779f",
        },
    },
    "attempt_log": [
        {
            "number": 1,
            "started_at": "2025-11-27T09:05:02Z",
            "duration_ms": 84,
            "status_code": 204,
            "outcome": "success",
            "response_excerpt": "",
            "error": "",
        }
    ],
}

SUBSCRIPTION_REQUEST = {
    "name": "ConnectWise PSA",
    "target_url": "https://psa.example.com/hooks/microsoft",
    "event_types": ["incident.created", "incident.updated", "incident.resolved"],
    "psa": 1,
    "customers": [],
    "is_active": True,
    "auth_type": "bearer",
    "auth_secret": "token-the-receiver-expects",
}
SUBSCRIPTION_RESPONSE = {
    "url": f"{EXAMPLE_API}/webhooks/3/",
    "id": 3,
    "name": "ConnectWise PSA",
    "target_url": "https://psa.example.com/hooks/microsoft",
    "event_types": ["incident.created", "incident.resolved", "incident.updated"],
    "psa": 1,
    "customers": [],
    "is_active": True,
    "auth_type": "bearer",
    "auth_username": "",
    "has_auth_secret": True,
    "consecutive_failures": 0,
    "failing_since": None,
    "last_success_at": "2025-11-27T09:05:02Z",
    "last_error": "",
    "disabled_at": None,
    "disabled_reason": "",
    "created_at": "2025-11-20T14:00:00Z",
    "modified_at": "2025-11-20T14:00:00Z",
}
SUBSCRIPTION_CREATED_RESPONSE = {
    **SUBSCRIPTION_RESPONSE,
    "signing_secret": "whsec_uth3nrcUgKdNSBH1RgGGfEWDdFRAtJXxOcU9VL7E1PA=",
}
ROTATED_SECRET_RESPONSE = {
    "signing_secret": "whsec_s4IqFjdQDjWIltzP/xoIR/JDO359Nj7ieYgNwkOuJ4k=",
    "previous_secret_valid_until": "2025-11-28T09:05:00Z",
}

PSA_CONNECTION_REQUEST = {
    "name": "ConnectWise PSA",
    "kind": "connectwise",
    "default_company_id": "CatchAll",
    "is_active": True,
}
PSA_CONNECTION_RESPONSE = {
    "url": f"{EXAMPLE_API}/psa-connections/1/",
    "id": 1,
    **PSA_CONNECTION_REQUEST,
    "created_at": "2025-11-20T14:00:00Z",
    "modified_at": "2025-11-20T14:00:00Z",
}
PSA_MAPPING_REQUEST = {
    "customer": "6babcaad-604b-40ac-a9d7-9fd97c0b779f",
    "psa": 1,
    "company_id": "19283",
}
PSA_MAPPING_RESPONSE = {
    "url": f"{EXAMPLE_API}/psa-mappings/12/",
    "id": 12,
    **PSA_MAPPING_REQUEST,
    "created_at": "2025-11-20T14:00:00Z",
    "modified_at": "2025-11-20T14:00:00Z",
}
