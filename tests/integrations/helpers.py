import base64

from core import events
from core.models import EventTypeChoices

# A Standard Webhooks signing secret the PSA receiver simulator verifies with.
SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef01234567").decode()


def webhook_form_data(**overrides):
    """What the webhook subscription page is sent: no authentication, a loopback target that
    nothing here connects to, and ``overrides``."""
    return {
        "name": "ConnectWise tickets",
        "target_url": "http://127.0.0.1:9/hook",
        "event_types": ["incident.created", "incident.resolved"],
        "psa": "",
        "customers": "",
        "auth_type": "none",
        "auth_username": "",
        "auth_secret": "",
        "secret": "",
        "is_active": "on",
        **overrides,
    }


def incident_event(customer, type_=EventTypeChoices.INCIDENT_CREATED, microsoft_id="EX100001"):
    return events.build(
        type=type_,
        summary=f"{microsoft_id}: Exchange Online mail delays",
        object_type="incident",
        object_id=microsoft_id,
        object_url=f"/api/v1/incidents/{microsoft_id}/",
        consolidation_key=f"incident:{microsoft_id}:{customer.tenant_id}",
        tenant_id=customer.tenant_id,
        payload={"microsoft_id": microsoft_id, "status": "serviceDegradation"},
    )
