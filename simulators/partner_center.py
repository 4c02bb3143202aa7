"""Partner Center simulator: the REST API for service requests (support tickets to Microsoft).

Routes (every one needs ``Authorization: Bearer <token>``):
  POST  /v1/servicerequests/{agent-locale}                  create (e.g. ``/en-US``)  -> 201
  GET   /v1/servicerequests                                 the partner's requests
  GET   /v1/servicerequests/supporttopics                   the 14 support topics
  GET   /v1/servicerequests/{servicerequest-id}             one request, with its notes
  PATCH /v1/servicerequests/{servicerequest-id}             add a note, change severity, close
  GET   /v1/customers/{customer-tenant-id}/servicerequests  one customer's requests

Shapes are those of the samples in Microsoft's Partner Center developer documentation (copied
in ``docs/reference/partner-center/``): request bodies use PascalCase keys
(``Title``, ``SupportTopicId``, ``NewNote``), responses camelCase; null properties are left out;
collections are ``{"totalCount", "items", "attributes": {"objectType": "Collection"}}``; dates
are written like ``"2016-12-22T20:31:17.24Z"`` (milliseconds, trailing zeros dropped), note dates
without the ``Z`` and a date never set as ``"0001-01-01T00:00:00"``. Errors use the documented
error schema ``{"code", "description", "data", "source"}``.

Creating is idempotent: a POST that repeats the ``MS-RequestId`` or ``Idempotency-Key`` of an
earlier successful one answers the first answer again (same id) and creates nothing; PATCH
likewise. ``created_count(key)`` tells how many requests a key created (at most one).

A request lives on a scenario clock (real time plus whatever ``advance`` adds): after creation it
is ``open``; its schedule (default: ``attention_needed`` with a note from Microsoft Support asking
for details after 10 minutes, ``closed`` after 30) moves it on; a partner note on an
``attention_needed`` request moves it back to ``open``. Tests set a status directly with
``set_status``, script faults with ``fail_next`` and read ``requests`` and ``created``.
Standard library only.
"""

import json
import random
import re
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from urllib.parse import unquote

SEVERITIES = ("unknown", "critical", "moderate", "minimal")  # .NET enum order: 0..3
STATUSES = ("none", "open", "closed", "attention_needed")  # .NET enum order: 0..3
SEVERITY_NUMBERS = {name: number for number, name in enumerate(SEVERITIES)}
STATUS_NUMBERS = {name: number for number, name in enumerate(STATUSES)}
CREATE_SEVERITIES = ("critical", "moderate", "minimal")

NEVER = "0001-01-01T00:00:00"  # how Partner Center writes a date that was never set
CONTENT_TYPE = "application/json; charset=utf-8"
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
class Fault:
    status: int
    headers: dict = field(default_factory=dict)
    body: bytes | None = None
    delay: float = 0.0
    method: str | None = None
    after: bool = False


class _HttpError(Exception):
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


# --- time ------------------------------------------------------------------------------------


def _to_ms(value):
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def pc_time(value, zulu=True):
    """Partner Center's timestamps: ``"2016-12-22T20:31:17.24Z"`` (milliseconds, trailing zeros
    dropped); ``zulu=False`` leaves out the Z as note dates do; None is ``0001-01-01T00:00:00``."""
    if value is None:
        return NEVER
    value = value.astimezone(UTC)
    fraction = f"{value.microsecond // 1000:03d}".rstrip("0")
    text = value.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "")
    return text + ("Z" if zulu else "")


# --- headers -----------------------------------------------------------------------------------


class Headers(dict):
    """Request headers as a dict (``Title-Case`` names), read case-insensitively."""

    def _key(self, name):
        if super().__contains__(name):
            return name
        lowered = name.lower()
        for key in self:
            if key.lower() == lowered:
                return key
        return None

    def __getitem__(self, name):
        key = self._key(name)
        if key is None:
            raise KeyError(name)
        return super().__getitem__(key)

    def __contains__(self, name):
        return isinstance(name, str) and self._key(name) is not None

    def get(self, name, default=None):
        key = self._key(name)
        return default if key is None else super().__getitem__(key)


def request_headers(environ):
    headers = Headers()
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers[key[5:].replace("_", "-").title()] = value
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            headers[key.replace("_", "-").title()] = value
    return headers


def _read_body(environ):
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    return environ["wsgi.input"].read(length) if length > 0 else b""


def _as_bytes(body):
    if body is None or isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return json.dumps(body).encode()


# --- the simulator -----------------------------------------------------------------------------

_LOCALE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_PREFIX = "/v1/servicerequests"
_CUSTOMER = re.compile(r"^/v1/customers/([^/]+)/servicerequests/?$")


class PartnerCenterSimulator:
    """A WSGI app serving Partner Center's service-request API to one partner."""

    def __init__(
        self,
        *,
        token=DEFAULT_TOKEN,
        organization=None,
        primary_contact=None,
        country_code="US",
        schedule=DEFAULT_SCHEDULE,
        numeric_enums=False,
        seed=None,
    ):
        """``token``: the bearer token accepted (None: any non-empty one). ``organization`` /
        ``primary_contact``: what new requests carry (default: the documentation's). ``schedule``:
        the default ScheduleStep list (or ``(after, status[, note])`` tuples) of new requests.
        ``numeric_enums``: list items give severity and status as numbers 0..3, like the
        documentation's customer-list sample. ``seed``: reproducible request ids."""
        self.token = token
        self.organization = dict(organization or DEFAULT_ORGANIZATION)
        self.primary_contact = (
            dict(primary_contact) if primary_contact is not None else dict(DEFAULT_PRIMARY_CONTACT)
        )
        self.country_code = country_code
        self.schedule = _steps(schedule)
        self.numeric_enums = numeric_enums
        self.service_requests = {}  # id -> SimulatedServiceRequest, in creation order
        self.created = []  # SimulatedServiceRequest created through POST, in order
        self.requests = []  # (method, path, headers, body bytes)
        self.faults = []  # (path prefix, Fault), consumed in order
        self.lock = threading.RLock()
        self._rng = random.Random(seed)  # noqa: S311 - ids, not cryptography
        self._offset = 0.0
        self._replays = {}  # (method, path, key) -> (status, body bytes, request id)
        self._created_per_key = Counter()
        self._posts_per_key = Counter()
        self._wake = threading.Condition(threading.Lock())
        self._generation = 0
        # Where the simulator is served; set once serving.
        self.base_url = "http://127.0.0.1"

    # --- clock ------------------------------------------------------------------------------
    def now(self):
        """Scenario time: real time plus everything ``advance`` added, to the millisecond."""
        with self.lock:
            offset = self._offset
        return _to_ms(datetime.now(UTC) + timedelta(seconds=offset))

    def advance(self, seconds):
        """Move the scenario clock forward; scheduled status changes up to then happen."""
        with self.lock:
            self._offset += float(seconds)
            self._refresh_all()
        return self.now()

    # --- scripting --------------------------------------------------------------------------
    def fail_next(
        self,
        path_prefix,
        status,
        headers=None,
        body=None,
        delay=0.0,
        times=1,
        *,
        method=None,
        after=False,
    ):
        """The next ``times`` requests whose path starts with ``path_prefix`` (and, with
        ``method``, use it) answer ``status`` with ``headers`` and ``body`` (bytes, str or
        JSON-able; a Partner Center error body when None) after ``delay`` seconds. Status 200
        with no body only delays. ``after=True``: the request is carried out first (a request
        is created, a note added) and then answered with the fault: a lost answer."""
        with self.lock:
            for _ in range(times):
                self.faults.append(
                    (
                        path_prefix,
                        Fault(
                            status,
                            dict(headers or {}),
                            _as_bytes(body),
                            delay,
                            method.upper() if method else None,
                            after,
                        ),
                    )
                )

    def clear_faults(self):
        with self.lock:
            self.faults.clear()

    def release(self):
        """Wake every answer held back by a ``delay`` now (e.g. before stopping the server)."""
        with self._wake:
            self._generation += 1
            self._wake.notify_all()

    def _sleep(self, seconds):
        if seconds <= 0:
            return
        with self._wake:
            generation = self._generation
            self._wake.wait_for(lambda: self._generation != generation, timeout=seconds)

    def _take_fault(self, method, path):
        with self.lock:
            for index, (prefix, fault) in enumerate(self.faults):
                if path.startswith(prefix) and fault.method in (None, method):
                    del self.faults[index]
                    return fault
        return None

    # --- test hooks -------------------------------------------------------------------------
    def add_request(
        self,
        *,
        title="Test",
        description="Test request",
        severity="moderate",
        support_topic_id="32444667",
        status="open",
        customer_tenant_id=None,
        created=None,
        schedule=None,
        notes=(),
        request_id=None,
    ):
        """Seed a request that exists already (not counted in ``created``). ``notes``:
        ``(created_by_name, text)`` pairs. ``schedule`` default: none (it keeps ``status``)."""
        with self.lock:
            created = _to_ms(created or self.now())
            sr = SimulatedServiceRequest(
                id=request_id or self._new_id(created),
                title=title,
                description=description,
                severity=severity,
                support_topic_id=str(support_topic_id),
                status=status,
                created=created,
                modified=created,
                organization=dict(self.organization),
                primary_contact=dict(self.primary_contact) if self.primary_contact else None,
                country_code=self.country_code,
                closed=created if status == "closed" else None,
                notes=[Note(by, created, text) for by, text in notes],
                customer_tenant_id=str(customer_tenant_id) if customer_tenant_id else None,
                schedule=_steps(schedule or ()),
            )
            self.service_requests[sr.id] = sr
            return sr

    def assign_customer(self, request_id, customer_tenant_id):
        """File a request under a customer (``/v1/customers/{id}/servicerequests`` lists it)."""
        with self.lock:
            self.service_requests[request_id].customer_tenant_id = str(customer_tenant_id)

    def set_schedule(self, request_id, steps):
        """Replace the future of a request: ``steps`` counted from its creation."""
        with self.lock:
            sr = self.service_requests[request_id]
            steps = _steps(steps)
            elapsed = (self.now() - sr.created).total_seconds()
            sr.schedule = steps
            sr.applied = sum(1 for step in steps if step.after <= elapsed)

    def set_status(self, request_id, status, note=None, by=MICROSOFT_SUPPORT):
        """Microsoft changes a request's status now (optionally with a note)."""
        if status not in STATUSES:
            raise ValueError(f"Unknown status {status!r}.")
        with self.lock:
            sr = self.service_requests[request_id]
            self._refresh(sr)
            now = self.now()
            sr.status = status
            sr.modified = now
            if status == "closed":
                sr.closed = now
            if note:
                sr.notes.append(Note(by, now, note))
            return sr

    def add_note(self, request_id, text, by=MICROSOFT_SUPPORT):
        """Microsoft adds a note now without changing the status."""
        with self.lock:
            sr = self.service_requests[request_id]
            self._refresh(sr)
            now = self.now()
            sr.notes.append(Note(by, now, text))
            sr.modified = now
            return sr

    def created_count(self, key):
        """How many requests POSTs with this MS-RequestId / Idempotency-Key created (0 or 1)."""
        with self.lock:
            return self._created_per_key[key]

    def post_count(self, key):
        """How many create POSTs carried this MS-RequestId / Idempotency-Key."""
        with self.lock:
            return self._posts_per_key[key]

    def status_of(self, request_id):
        with self.lock:
            sr = self.service_requests[request_id]
            self._refresh(sr)
            return sr.status

    def request_json(self, request_id):
        """The request as ``GET /v1/servicerequests/{id}`` serves it now."""
        with self.lock:
            sr = self.service_requests[request_id]
            self._refresh(sr)
            return self._detail_json(sr)

    # --- the lifecycle ----------------------------------------------------------------------
    def _refresh_all(self):
        for sr in self.service_requests.values():
            self._refresh(sr)

    def _refresh(self, sr):
        """Apply the schedule steps that are due; a closed request drops the rest."""
        now = self.now()
        while sr.applied < len(sr.schedule):
            step = sr.schedule[sr.applied]
            at = sr.created + timedelta(seconds=step.after)
            if at > now:
                break
            sr.applied += 1
            if sr.status == "closed":
                sr.applied = len(sr.schedule)
                break
            sr.status = step.status
            sr.modified = at
            if step.status == "closed":
                sr.closed = at
            if step.note:
                sr.notes.append(Note(step.by, at, step.note))

    def _new_id(self, created):
        # Microsoft's service request numbers in the samples: "6" + yymmdd of creation + 8 digits
        # ("616122292874576" was created on 2016-12-22).
        while True:
            candidate = f"6{created:%y%m%d}{self._rng.randrange(10**8):08d}"
            if candidate not in self.service_requests:
                return candidate

    # --- JSON ---------------------------------------------------------------------------------
    @staticmethod
    def _compact(payload):
        return {key: value for key, value in payload.items() if value is not None}

    def _create_json(self, sr):
        """The 201 answer, as the documentation's sample: status ``none``."""
        contact = None
        if sr.primary_contact:
            contact = {"organization": dict(sr.organization), **sr.primary_contact}
        return self._compact(
            {
                "title": sr.title,
                "description": sr.description,
                "severity": sr.severity,
                "supportTopicId": sr.support_topic_id,
                "id": sr.id,
                "status": "none",
                "organization": dict(sr.organization),
                "primaryContact": contact,
                "createdDate": pc_time(sr.created),
                "lastModifiedDate": pc_time(sr.modified),
                "lastClosedDate": pc_time(sr.closed),
                "countryCode": sr.country_code,
                "attributes": {"objectType": "ServiceRequest"},
            }
        )

    def _detail_json(self, sr):
        topic = TOPICS.get(sr.support_topic_id)
        contact = None
        if sr.primary_contact:
            contact = {"organization": dict(sr.organization), **sr.primary_contact}
        organization = self._compact(
            {"id": sr.organization.get("id"), "name": sr.organization.get("name")}
        )
        return self._compact(
            {
                "title": sr.title,
                "description": sr.description,
                "severity": sr.severity,
                "supportTopicId": sr.support_topic_id,
                "supportTopicName": topic[0] if topic else None,
                "id": sr.id,
                "status": sr.status,
                "organization": organization,
                "primaryContact": contact,
                "productId": topic[2] if topic else None,
                "createdDate": pc_time(sr.created),
                "lastModifiedDate": pc_time(sr.modified),
                "lastClosedDate": pc_time(sr.closed),
                "notes": [
                    {
                        "createdByName": note.created_by_name,
                        "createdDate": pc_time(note.created, zulu=False),
                        "text": note.text,
                    }
                    for note in sr.notes
                ],
                "countryCode": sr.country_code,
                "attributes": {"objectType": "ServiceRequest"},
            }
        )

    def _item_json(self, sr):
        """A list item, as the documentation's customer-list sample: a summary."""
        contact = None
        if sr.primary_contact:
            contact = self._compact(
                {
                    "lastName": sr.primary_contact.get("lastName"),
                    "firstName": sr.primary_contact.get("firstName"),
                }
            )
        numeric = self.numeric_enums
        return self._compact(
            {
                "title": sr.title,
                "severity": SEVERITY_NUMBERS[sr.severity] if numeric else sr.severity,
                "id": sr.id,
                "status": STATUS_NUMBERS[sr.status] if numeric else sr.status,
                "primaryContact": contact or None,
                "createdDate": pc_time(sr.created),
                "lastModifiedDate": pc_time(sr.modified),
                "lastClosedDate": pc_time(sr.closed),
                "attributes": {"objectType": "ServiceRequest"},
            }
        )

    @staticmethod
    def _collection(items):
        return {
            "totalCount": len(items),
            "items": items,
            "attributes": {"objectType": "Collection"},
        }

    # --- WSGI ---------------------------------------------------------------------------------
    def __call__(self, environ, start_response):
        method = environ["REQUEST_METHOD"].upper()
        path = unquote(environ.get("PATH_INFO", ""))
        headers = request_headers(environ)
        body = _read_body(environ)
        reply_headers = {
            "MS-CorrelationId": headers.get("MS-CorrelationId") or str(uuid.uuid4()),
            "MS-RequestId": headers.get("MS-RequestId") or str(uuid.uuid4()),
            "MS-CV": uuid.uuid4().hex[:16] + ".0",
        }
        with self.lock:
            self.requests.append((method, path, headers, body))
        fault = self._take_fault(method, path)
        if fault is not None and not fault.after:
            self._sleep(fault.delay)
            if fault.body is not None or fault.status != 200:
                return self._fault(start_response, fault, reply_headers)
        try:
            self._authorise(headers)
            status, payload, extra = self._route(method, path, headers, body)
        except _HttpError as error:
            status, payload, extra = error.status, error.payload, error.headers
        if fault is not None and fault.after:
            self._sleep(fault.delay)
            if fault.body is not None or fault.status != 200:
                return self._fault(start_response, fault, reply_headers)
        if not isinstance(payload, bytes):
            payload = json.dumps(payload, ensure_ascii=False).encode()
        return self._respond(start_response, status, payload, {**reply_headers, **extra})

    def _fault(self, start_response, fault, reply_headers):
        body = fault.body
        if body is None:
            description = HTTPStatus(fault.status).phrase if _known(fault.status) else "Error"
            body = json.dumps(
                error_body(fault.status, f"Simulated {fault.status} {description}.")
            ).encode()
        return self._respond(start_response, fault.status, body, {**reply_headers, **fault.headers})

    @staticmethod
    def _respond(start_response, status, body, headers):
        headers = dict(headers)
        content_type = headers.pop("Content-Type", CONTENT_TYPE)
        reason = HTTPStatus(status).phrase if _known(status) else "Status"
        start_response(
            f"{status} {reason}",
            [("Content-Type", content_type), ("Content-Length", str(len(body))), *headers.items()],
        )
        return [body]

    def _authorise(self, headers):
        auth = headers.get("Authorization", "")
        scheme, _space, token = auth.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise _HttpError(401, "Authorization header is missing or is not a bearer token.")
        if self.token is not None and token != self.token:
            raise _HttpError(401, "Authentication failed: the access token is not valid.")

    # --- routes -------------------------------------------------------------------------------
    def _route(self, method, path, headers, body):
        customer = _CUSTOMER.match(path)
        if customer:
            if method != "GET":
                raise _HttpError(405, f"The HTTP method '{method}' is not allowed.")
            return self._list(customer.group(1))
        if path != _PREFIX and not path.startswith(_PREFIX + "/"):
            raise _HttpError(404, f"The resource '{path}' was not found.")
        rest = path[len(_PREFIX) :].strip("/")
        if not rest:
            if method != "GET":
                raise _HttpError(405, f"The HTTP method '{method}' is not allowed.")
            return self._list(None)
        if "/" in rest:
            raise _HttpError(404, f"The resource '{path}' was not found.")
        if rest.lower() == "supporttopics":
            if method != "GET":
                raise _HttpError(405, f"The HTTP method '{method}' is not allowed.")
            return self._topics()
        if method == "POST":
            return self._idempotent(method, path, headers, lambda: self._create(rest, body))
        if rest.isdigit():
            if method == "GET":
                with self.lock:
                    return 200, self._detail_json(self._get(rest)), {}
            if method == "PATCH":
                return self._idempotent(method, path, headers, lambda: self._update(rest, body))
            raise _HttpError(405, f"The HTTP method '{method}' is not allowed.")
        raise _HttpError(404, f"The resource '{path}' was not found.")

    def _get(self, request_id):
        sr = self.service_requests.get(request_id)
        if sr is None:
            raise _HttpError(404, f"Service request {request_id} was not found.")
        self._refresh(sr)
        return sr

    def _list(self, customer_tenant_id):
        with self.lock:
            self._refresh_all()
            items = [
                self._item_json(sr)
                for sr in self.service_requests.values()
                if customer_tenant_id is None or sr.customer_tenant_id == customer_tenant_id
            ]
        return 200, self._collection(items), {}

    def _topics(self):
        items = [
            {
                "name": name,
                "description": description,
                "id": topic_id,
                "attributes": {"objectType": "SupportTopic"},
            }
            for topic_id, name, description, _product in SUPPORT_TOPICS
        ]
        return 200, self._collection(items), {}

    def _idempotent(self, method, path, headers, action):
        """Run ``action`` once per MS-RequestId / Idempotency-Key: a repeat gets the first
        (successful) answer again. Holds the lock throughout, so concurrent repeats wait."""
        keys = [
            value
            for value in (headers.get("Idempotency-Key"), headers.get("MS-RequestId"))
            if value
        ]
        with self.lock:
            if method == "POST":
                for key in keys:
                    self._posts_per_key[key] += 1
            for key in keys:
                replay = self._replays.get((method, path, key))
                if replay is not None:
                    status, body, _request_id = replay
                    return status, body, {"Idempotent-Replayed": "true"}
            status, payload, extra = action()
            body = json.dumps(payload, ensure_ascii=False).encode()
            if 200 <= status < 300:
                for key in keys:
                    self._replays[(method, path, key)] = (status, body, payload.get("id"))
                if method == "POST":
                    sr = self.service_requests[payload["id"]]
                    sr.idempotency_keys = list(keys)
                    for key in keys:
                        self._created_per_key[key] += 1
            return status, body, extra

    def _create(self, locale, body):
        if not _LOCALE.match(locale):
            raise _HttpError(400, f"The agent-locale '{locale}' is not a valid locale.")
        data = _json_object(body)
        problems = []
        title = data.get("Title")
        if not isinstance(title, str) or not title.strip():
            problems.append("Title is required.")
        description = data.get("Description")
        if not isinstance(description, str) or not description.strip():
            problems.append("Description is required.")
        severity = data.get("Severity")
        if not isinstance(severity, str) or severity.lower() not in CREATE_SEVERITIES:
            problems.append(
                f"Severity {severity!r} is not valid: use one of {', '.join(CREATE_SEVERITIES)}."
            )
        topic = data.get("SupportTopicId")
        if isinstance(topic, bool) or not isinstance(topic, str | int) or str(topic) not in TOPICS:
            problems.append(f"SupportTopicId {topic!r} is not a known support topic.")
        if problems:
            raise _HttpError(400, problems[0], data=problems)
        with self.lock:
            now = self.now()
            sr = SimulatedServiceRequest(
                id=self._new_id(now),
                title=title.strip(),
                description=description,
                severity=severity.lower(),
                support_topic_id=str(topic),
                status="none",
                created=now,
                modified=now,
                organization=dict(self.organization),
                primary_contact=dict(self.primary_contact) if self.primary_contact else None,
                country_code=self.country_code,
                locale=locale,
                schedule=list(self.schedule),
            )
            payload = self._create_json(sr)
            sr.status = "open"
            sr.create_response = json.dumps(payload, ensure_ascii=False).encode()
            self.service_requests[sr.id] = sr
            self.created.append(sr)
        return 201, payload, {}

    def _update(self, request_id, body):
        data = _json_object(body)
        severity = data.get("Severity")
        if severity is not None and (
            not isinstance(severity, str) or severity.lower() not in SEVERITIES
        ):
            raise _HttpError(
                400, f"Severity {severity!r} is not valid: use one of {', '.join(SEVERITIES)}."
            )
        status = data.get("Status")
        if status is not None and (
            not isinstance(status, str) or status.lower() not in ("none", "open", "closed")
        ):
            raise _HttpError(400, f"Status {status!r} is not valid: use none, open or closed.")
        note = data.get("NewNote")
        if note is not None:
            text = note.get("Text") if isinstance(note, dict) else None
            if not isinstance(text, str) or not text.strip():
                raise _HttpError(400, "NewNote.Text is required when NewNote is given.")
        with self.lock:
            sr = self._get(request_id)
            now = self.now()
            changed = False
            if severity and severity.lower() != "unknown":
                sr.severity = severity.lower()
                changed = True
            if note is not None:
                author = note.get("CreatedByName") or self._contact_name()
                sr.notes.append(Note(author, now, note["Text"]))
                if sr.status == "attention_needed":
                    sr.status = "open"  # the partner answered Microsoft's question
                changed = True
            if status and status.lower() == "closed" and sr.status != "closed":
                sr.status = "closed"
                sr.closed = now
                changed = True
            elif status and status.lower() == "open" and sr.status != "open":
                sr.status = "open"
                changed = True
            if changed:
                sr.modified = now
            return 200, self._detail_json(sr), {}

    def _contact_name(self):
        contact = self.primary_contact or {}
        name = f"{contact.get('firstName') or ''} {contact.get('lastName') or ''}".strip()
        return name or self.organization.get("name") or "Partner"


def _json_object(body):
    try:
        data = json.loads(body.decode("utf-8")) if body else None
    except (UnicodeDecodeError, ValueError):
        data = None
    if not isinstance(data, dict):
        raise _HttpError(400, "The request body must be a JSON object.")
    return data


def _known(status):
    try:
        HTTPStatus(status)
    except ValueError:
        return False
    return True


def _steps(steps):
    result = [s if isinstance(s, ScheduleStep) else ScheduleStep(*s) for s in steps]
    for step in result:
        if step.status not in STATUSES:
            raise ValueError(f"Unknown status {step.status!r} in a schedule.")
    return sorted(result, key=lambda step: step.after)
