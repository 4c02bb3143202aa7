"""The Message center of one tenant, read from Microsoft Graph.

``fetch`` reads the whole ``serviceAnnouncement/messages`` collection (following
``@odata.nextLink``) and returns it parsed; it writes nothing. The full list is read each time:
``$filter`` on ``lastModifiedDateTime`` is not documented for it, and the full list is also what
tells which messages reach the tenant. A record in a shape we cannot read is counted and skipped;
a category or severity we do not know is kept as sent.
"""

from dataclasses import dataclass, field

from outbound.graph import parse_datetime

MESSAGES = "/admin/serviceAnnouncement/messages"
UNKNOWN = "unknownFutureValue"


@dataclass
class MessageSnapshot:
    messages: dict = field(default_factory=dict)  # microsoft id -> fields
    malformed: int = 0
    requests: int = 0


def _text(value, limit):
    return str(value)[:limit] if value is not None else ""


def _member(value):
    """An enum member as Graph spells it (camelCase); unknown ones are kept as sent."""
    text = _text(value, 40) or UNKNOWN
    return text[:1].lower() + text[1:]


def _strings(value, limit=200):
    """A list of strings (services, tags); anything else in it is dropped."""
    if not isinstance(value, list):
        return []
    return [item[:limit] for item in value if isinstance(item, str) and item]


def parse_message(raw):
    """A ``serviceUpdateMessage`` as ServiceMessage fields; None if unreadable."""
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str) or not raw["id"]:
        return None
    body = raw.get("body") if isinstance(raw.get("body"), dict) else {}
    content = body.get("content")
    details = raw.get("details") if isinstance(raw.get("details"), list) else []
    return {
        "microsoft_id": raw["id"][:40],
        "title": _text(raw.get("title") or raw["id"], 500),
        "category": _member(raw.get("category")),
        "severity": _member(raw.get("severity")),
        "services": _strings(raw.get("services")),
        "tags": _strings(raw.get("tags")),
        "is_major_change": raw.get("isMajorChange") is True,
        "action_required_by": parse_datetime(raw.get("actionRequiredByDateTime")),
        "started_at": parse_datetime(raw.get("startDateTime")),
        "ended_at": parse_datetime(raw.get("endDateTime")),
        "last_modified_at": parse_datetime(raw.get("lastModifiedDateTime")),
        "body_content_type": _member(body.get("contentType") or "html")[:20],
        "body": content if isinstance(content, str) else "",
        "details": [d for d in details if isinstance(d, dict)],
    }


def fetch(client):
    """Read the tenant's messages. Raises GraphError on failure; writes nothing."""
    snapshot = MessageSnapshot()
    for raw in client.get_collection(MESSAGES):
        parsed = parse_message(raw)
        if parsed is None:
            snapshot.malformed += 1
        else:
            snapshot.messages[parsed["microsoft_id"]] = parsed
    snapshot.requests = client.requests_made
    return snapshot
