"""The simulator's data: Partner Center's vocabularies and support topics, service requests,
notes and their schedules, faults, the documented error body, paged lists and Partner Center's
time format."""

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from simulators.scripting import Fault as ScriptedFault
from simulators.scripting import as_bytes

SEVERITIES = ("unknown", "critical", "moderate", "minimal")  # .NET enum order: 0..3
STATUSES = ("none", "open", "closed", "attention_needed")  # .NET enum order: 0..3
SEVERITY_NUMBERS = {name: number for number, name in enumerate(SEVERITIES)}
STATUS_NUMBERS = {name: number for number, name in enumerate(STATUSES)}
CREATE_SEVERITIES = ("critical", "moderate", "minimal")

NEVER = "0001-01-01T00:00:00"  # how Partner Center writes a date that was never set
MICROSOFT_SUPPORT = "Microsoft Support"
DEFAULT_TOKEN = "partner-center-sim-token"  # noqa: S105 - the simulator's own demo credential

# The organization and primary contact of the documentation's samples.
DEFAULT_ORGANIZATION = {
    "id": "3b33e682-00c3-41ee-9dd2-a548adf56438",
    "name": "TEST_TEST_BugBash1",
    "phoneNumber": "2398391056",
}
DEFAULT_PRIMARY_CONTACT = {
    "contactId": "bb4ebcf5-d84c-4b35-8469-f4cfa4ac909e",
    "lastName": "Account",
    "email": "admin@testtestbugbash1.onmicrosoft.com",
    "phoneNumber": "2066017143",
}

# (id, name, description, productId). The documentation shows the first two of 14 (ids 32444667
# and 32444671, product 15960 as in the "get service request" sample); the rest are plausible.
SUPPORT_TOPICS = (
    (
        32444667,
        "Partner Center Issues",
        "Office 365 questions from the CSP (Cloud Solution Provider) partners using Partner Center",
        "15960",
    ),
    (
        32444668,
        "Billing",
        "Questions about invoices, reconciliation files, charges and payments",
        "15961",
    ),
    (
        32444669,
        "Subscription management",
        "Issues with purchasing, upgrading, suspending or cancelling customer subscriptions",
        "15962",
    ),
    (
        32444670,
        "Licensing",
        "Issues with assigning licenses, license counts and license availability",
        "15963",
    ),
    (
        32444671,
        "Cannot manage my profile",
        "Issues that are related to errors or problems with managing a profile",
        "15960",
    ),
    (
        32444672,
        "Azure technical issue",
        "Technical problems with Azure services in customer subscriptions",
        "15964",
    ),
    (
        32444673,
        "Microsoft 365 technical issue",
        "Technical problems with Microsoft 365 services for customers",
        "15965",
    ),
    (
        32444674,
        "Exchange Online",
        "Issues with mail flow, mailboxes and Exchange Online administration",
        "15966",
    ),
    (
        32444675,
        "SharePoint Online",
        "Issues with SharePoint Online sites, OneDrive and file sharing",
        "15967",
    ),
    (
        32444676,
        "Teams",
        "Issues with Microsoft Teams chat, meetings, calling and administration",
        "15968",
    ),
    (
        32444677,
        "Identity and access (Entra)",
        "Issues with sign-in, multifactor authentication, Conditional Access and Microsoft "
        "Entra ID",
        "15969",
    ),
    (
        32444678,
        "Intune",
        "Issues with device enrollment, compliance policies and app management in Microsoft Intune",
        "15970",
    ),
    (
        32444679,
        "Security and compliance",
        "Issues with Microsoft Defender, Microsoft Purview and security alerts",
        "15971",
    ),
    (
        32444680,
        "Dynamics 365",
        "Technical problems with Dynamics 365 apps for customers",
        "15972",
    ),
)
TOPICS = {str(topic_id): (name, desc, product) for topic_id, name, desc, product in SUPPORT_TOPICS}

ASK_FOR_DETAILS = (
    "Hello, this is Microsoft Support. To continue the investigation we need more information: "
    "please reply with the affected user accounts or resources, the exact time the problem was "
    "last seen (with time zone), the full text of any error message and the steps to reproduce it."
)
CLOSING_NOTE = (
    "This service request has been resolved and is now closed. If the problem comes back, "
    "please open a new service request and quote this one's number."
)


@dataclass(frozen=True)
class ScheduleStep:
    """``after`` seconds after creation the request moves to ``status``; ``note`` (if any) is
    added by ``by``."""

    after: float
    status: str
    note: str | None = None
    by: str = MICROSOFT_SUPPORT


DEFAULT_SCHEDULE = (
    ScheduleStep(600, "attention_needed", ASK_FOR_DETAILS),
    ScheduleStep(1800, "closed", CLOSING_NOTE),
)


@dataclass
class Note:
    created_by_name: str
    created: datetime
    text: str


@dataclass
class SimulatedServiceRequest:
    id: str
    title: str
    description: str
    severity: str
    support_topic_id: str
    status: str
    created: datetime
    modified: datetime
    organization: dict
    primary_contact: dict | None
    country_code: str | None
    locale: str = "en-US"
    closed: datetime | None = None
    notes: list = field(default_factory=list)  # Note
    customer_tenant_id: str | None = None
    schedule: list = field(default_factory=list)  # ScheduleStep, by ``after``
    applied: int = 0  # how many schedule steps have happened (or been dropped)
    idempotency_keys: list = field(default_factory=list)
    create_response: bytes = b""  # the 201 body, served again to a replay


@dataclass
class Fault(ScriptedFault):
    """``body``: bytes, str or JSON-able. ``method``: answer only requests that use it.
    ``after=True``: the request is carried out first (a request is created, a note added) and then
    answered with the fault: a lost answer."""

    method: str | None = None
    after: bool = False

    def __post_init__(self):
        self.body = as_bytes(self.body)
        self.method = self.method.upper() if self.method else None

    def answers(self, method):
        return self.method in (None, method)


class HttpError(Exception):
    def __init__(self, status, description, code=None, data=None, headers=None):
        super().__init__(status)
        self.status = status
        self.payload = error_body(status, description, code=code, data=data)
        self.headers = headers or {}


# Partner Center's own codes in the documentation's error examples: 2000 for an invalid input
# ("Account Id has to be set."), 3000 for something not found. Other errors carry the HTTP status.
_ERROR_CODES = {400: 2000, 404: 3000}


def error_body(status, description, code=None, data=None):
    """Partner Center's documented error schema."""
    return {
        "code": code if code is not None else _ERROR_CODES.get(status, status),
        "description": description,
        "data": list(data or []),
        "source": "PartnerFD",
    }


def camel_case(body, drop=()):
    """A PascalCase object of a request body (``PrimaryContact``) in the answers' camelCase,
    null properties and ``drop`` left out; None when there is nothing."""
    if not isinstance(body, dict):
        return None
    result = {
        key[:1].lower() + key[1:]: value
        for key, value in body.items()
        if value is not None and key not in drop
    }
    return result or None


# --- pages -----------------------------------------------------------------------------------


class ContinuationPages:
    """Lists served a page at a time, as Partner Center pages them: a page with more after it
    carries ``continuationToken`` and ``links.next`` (the token as MS-ContinuationToken), as the
    .NET SDK follows them. A token is good only on the path it was handed out for."""

    def __init__(self):
        self._offsets = {}  # continuation token -> (path, offset of the page it leads to)

    def offset(self, path, token):
        """Where the page ``token`` asks for starts: 0 without a token, a 400 for a token that
        was not handed out for ``path``."""
        if not token:
            return 0
        if self._offsets.get(token, (None,))[0] != path:
            raise HttpError(400, "The continuation token is not valid.", code=2000)
        return self._offsets[token][1]

    def page(self, items, path, size, offset, *, item_json=None, loop_token=None):
        """The page of ``items`` starting at ``offset``, each shown by ``item_json`` when given.
        ``loop_token``: ``links.next`` hands this token out again for the same page (a loop)."""
        end = offset + size
        shown = items[offset:end]
        payload = {
            "totalCount": len(items),
            "items": [item_json(item) for item in shown] if item_json else list(shown),
            "links": {"self": {"uri": f"{path}?size={size}", "method": "GET", "headers": []}},
            "attributes": {"objectType": "Collection"},
        }
        if end < len(items):
            token = loop_token or uuid.uuid4().hex
            self._offsets[token] = (path, offset if loop_token else end)
            payload["continuationToken"] = token
            payload["links"]["next"] = {
                "uri": f"{path}?size={size}&seekOperation=Next",
                "method": "GET",
                "headers": [{"key": "MS-ContinuationToken", "value": token}],
            }
        return payload


# --- time ------------------------------------------------------------------------------------


def pc_time(value, zulu=True):
    """Partner Center's timestamps: ``"2016-12-22T20:31:17.24Z"`` (milliseconds, trailing zeros
    dropped); ``zulu=False`` leaves out the Z as note dates do; None is ``0001-01-01T00:00:00``."""
    if value is None:
        return NEVER
    value = value.astimezone(UTC)
    fraction = f"{value.microsecond // 1000:03d}".rstrip("0")
    text = value.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "")
    return text + ("Z" if zulu else "")


def schedule_steps(steps):
    result = [s if isinstance(s, ScheduleStep) else ScheduleStep(*s) for s in steps]
    for step in result:
        if step.status not in STATUSES:
            raise ValueError(f"Unknown status {step.status!r} in a schedule.")
    return sorted(result, key=lambda step: step.after)
