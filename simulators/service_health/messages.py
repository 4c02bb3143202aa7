"""Message center posts (``serviceUpdateMessage``) of the service-communications simulator.

  GET /v1.0/admin/serviceAnnouncement/messages          paged collection ($top, Prefer:
                                                         odata.maxpagesize, $skiptoken)
  GET /v1.0/admin/serviceAnnouncement/messages/{id}

Like issues, a message is published once and listed to every tenant it reaches. A tenant whose
partner user lacks Message Center Reader (``deny_messages``) gets 403 here while its health
still answers. Faults are scripted as for every route (``fail_next``).
"""

from dataclasses import dataclass, field
from datetime import UTC, timedelta
from urllib.parse import quote, urlencode

from simulators.scripting import to_ms
from simulators.service_health.errors import graph_error
from simulators.service_health.model import service_time
from simulators.service_health.odata import decode_skiptoken, encode_skiptoken

GRAPH_METADATA = "https://graph.microsoft.com/v1.0/$metadata"
CATEGORIES = ("preventOrManage", "stayInformed", "planForChange", "unknownFutureValue")
SEVERITIES = ("normal", "high", "critical", "unknownFutureValue")


@dataclass
class SimulatedMessage:
    id: str
    title: str
    body: str  # HTML, as Microsoft writes it
    category: str = "stayInformed"
    severity: str = "normal"
    services: list = field(default_factory=list)  # display names ("Exchange Online")
    tags: list = field(default_factory=list)
    is_major_change: bool = False
    action_required_by: object = None  # datetime or None
    start: object = None
    end: object = None
    modified: object = None
    details: list = field(default_factory=list)  # [{"name", "value"}]
    tenant_ids: set = field(default_factory=set)


class MessageBoard:
    """The Message center part of ``ServiceHealthSimulator`` (a mixin on its scenario clock and
    lock)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.messages = {}  # message id -> SimulatedMessage
        self.messages_denied = set()  # tenant ids answered 403 on messages

    # --- building a scenario ---------------------------------------------------------------
    def add_message(self, message_id, *, title, tenant_ids, body=None, **fields):
        """Publish a message to ``tenant_ids``; ``fields`` are SimulatedMessage's. Starts and
        is last modified now unless ``start`` / ``modified`` say otherwise."""
        now = to_ms(self.now().astimezone(UTC))
        fields.setdefault("start", now)
        fields.setdefault("modified", fields["start"])
        message = SimulatedMessage(
            id=message_id,
            title=title,
            body=body if body is not None else f"<p>{title}</p>",
            tenant_ids={str(t) for t in tenant_ids},
            **fields,
        )
        with self.lock:
            if message_id in self.messages:
                raise ValueError(f"Message {message_id} already exists.")
            self.messages[message_id] = message
        return message

    def update_message(self, message_id, **changes):
        """Microsoft edits a message now (its lastModifiedDateTime moves)."""
        with self.lock:
            message = self.messages[message_id]
            for name, value in changes.items():
                setattr(message, name, value)
            message.modified = to_ms(self.now().astimezone(UTC))

    def deny_messages(self, tenant_id):
        """The tenant refuses the Message center: its partner user lacks Message Center Reader."""
        with self.lock:
            self.messages_denied.add(str(tenant_id))

    def messages_for(self, tenant_id):
        """What ``tenant_id`` is listed, as Graph serves it, by id."""
        with self.lock:
            return [self._message_json(m) for m in self._messages_of(str(tenant_id))]

    # --- serving ---------------------------------------------------------------------------
    def _messages_of(self, tenant_id):
        return sorted(
            (m for m in self.messages.values() if tenant_id in m.tenant_ids), key=lambda m: m.id
        )

    @staticmethod
    def _message_json(message):
        return {
            "startDateTime": service_time(message.start),
            "endDateTime": service_time(message.end),
            "lastModifiedDateTime": service_time(message.modified),
            "title": message.title,
            "id": message.id,
            "category": message.category,
            "severity": message.severity,
            "tags": list(message.tags),
            "isMajorChange": message.is_major_change,
            "actionRequiredByDateTime": service_time(message.action_required_by),
            "services": list(message.services),
            "expiryDateTime": None,
            "hasAttachments": False,
            "viewPoint": None,
            "details": list(message.details),
            "body": {"contentType": "html", "content": message.body},
        }

    def _messages_route(self, tenant, rest, query, headers, path):
        """``rest``: the path's segments after ``messages``. Called with the lock held."""
        if tenant.tenant_id in self.messages_denied:
            raise graph_error(
                403, "Forbidden", "Caller does not have access to the requested resource."
            )
        mine = self._messages_of(tenant.tenant_id)
        context = f"{GRAPH_METADATA}#admin/serviceAnnouncement/messages"
        if len(rest) == 1:
            for message in mine:
                if message.id == rest[0]:
                    return (
                        200,
                        {"@odata.context": f"{context}/$entity", **self._message_json(message)},
                        {},
                    )
            raise graph_error(404, "NotFound", f"The message '{rest[0]}' was not found.")
        if rest:
            raise graph_error(
                400, "BadRequest", f"Resource not found for the segment '{rest[-1]}'."
            )
        size, extra = self._page_size(query, headers)
        if "$skiptoken" in query:
            after = decode_skiptoken(query["$skiptoken"][0])
            mine = [m for m in mine if m.id > after]
        page = mine[:size]
        payload = {"@odata.context": context, "value": [self._message_json(m) for m in page]}
        if len(mine) > size:
            kept = {key: values[0] for key, values in query.items() if key == "$top"}
            kept["$skiptoken"] = encode_skiptoken(page[-1].id)
            payload["@odata.nextLink"] = (
                f"{self.base_url}{quote(path)}?{urlencode(kept, quote_via=quote, safe=':,$')}"
            )
        return 200, payload, extra


def publish_demo_messages(board, tenant_ids):
    """A few realistic messages for `make run`: one every tenant gets, others for some."""
    tenant_ids = [str(t) for t in tenant_ids]
    now = to_ms(board.now().astimezone(UTC))
    every, some = tenant_ids, tenant_ids[::2]
    for message_id, tenants, fields in (
        (
            "MC900101",
            every,
            {
                "title": "Exchange Online: retiring Basic authentication for SMTP AUTH",
                "category": "planForChange",
                "severity": "high",
                "services": ["Exchange Online"],
                "tags": ["Admin impact", "Retirement", "User impact"],
                "is_major_change": True,
                "action_required_by": now + timedelta(days=45),
                "body": (
                    "<p>We will retire Basic authentication for SMTP AUTH client submission."
                    "</p><p><b>How this will affect your organization:</b> devices and apps "
                    "that send mail with Basic authentication will fail.</p><p><b>What you "
                    "need to do to prepare:</b> move them to OAuth.</p>"
                ),
            },
        ),
        (
            "MC900102",
            every,
            {
                "title": "Microsoft Teams: meeting recap for more meetings",
                "category": "stayInformed",
                "services": ["Microsoft Teams"],
                "tags": ["Feature update", "User impact"],
                "body": "<p>Meeting recap will be available for channel meetings.</p>",
            },
        ),
        (
            "MC900103",
            some,
            {
                "title": "Microsoft Intune: update to the latest Company Portal app",
                "category": "preventOrManage",
                "severity": "critical",
                "services": ["Microsoft Intune"],
                "tags": ["Admin impact"],
                "action_required_by": now + timedelta(days=10),
                "body": "<p>Older Company Portal versions stop enrolling devices.</p>",
            },
        ),
        (
            "MC900104",
            some,
            {
                "title": "SharePoint Online: new default sharing link settings",
                "category": "planForChange",
                "services": ["SharePoint Online", "OneDrive for Business"],
                "tags": ["Updated message", "Admin impact"],
                "body": "<p>New sites get <i>specific people</i> links by default.</p>",
            },
        ),
    ):
        board.add_message(
            message_id,
            tenant_ids=tenants,
            start=now - timedelta(days=7),
            modified=now - timedelta(days=1),
            **fields,
        )
