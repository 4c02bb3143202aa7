"""Microsoft Graph service-communications simulator: service health of many tenants at once.

Routes (``{tenant}`` is a tenant id; every GET answers with the data of the tenant whose token
it carries):
  POST /{tenant}/oauth2/v2.0/token                                   client credentials
  GET  /v1.0/admin/serviceAnnouncement/healthOverviews                ?$expand=issues
  GET  /v1.0/admin/serviceAnnouncement/healthOverviews/{service}      id or name
  GET  /v1.0/admin/serviceAnnouncement/healthOverviews/{service}/issues
  GET  /v1.0/admin/serviceAnnouncement/issues                         paged collection
  GET  /v1.0/admin/serviceAnnouncement/issues/{id}

Shapes follow Microsoft's documentation of ``serviceHealth``, ``serviceHealthIssue``,
``serviceHealthIssuePost`` and ``itemBody``. Issue collections support ``$filter`` (comparisons
on the date fields, ``isResolved``/``highImpact`` and the string fields, joined by ``and``; e.g.
``lastModifiedDateTime ge 2026-11-27T08:00:00Z``), ``$top`` or ``Prefer: odata.maxpagesize``,
``$skip``, ``$select`` and ``$count``; pages are joined by an absolute ``@odata.nextLink`` whose
``$skiptoken`` is a keyset cursor, so a walk returns every issue once even while issues change.

Microsoft publishes an issue once and shows it to every tenant it affects: the simulator keeps a
catalogue of issues, each with the set of tenant ids it affects. An issue is a timeline of steps
(status changes with a post each) on a scenario clock: real time plus whatever tests add with
``advance``; what is served is the issue as of ``now()``. A tenant's health overview per
service is the worst status of its unresolved incidents there, else ``serviceOperational``.

``demo`` builds the scenario ``make run`` serves; ``bulk`` a large deterministic one for
benchmarks. Tests script faults with ``fail_next`` (optionally for one tenant only) and read
``requests``. Standard library only.
"""

import base64
import bisect
import json
import random
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from urllib.parse import parse_qs, quote, urlencode

from simulators.graph import graph_time

GRAPH_METADATA = "https://graph.microsoft.com/v1.0/$metadata"
ANNOUNCEMENT = "/v1.0/admin/serviceAnnouncement"
TOKEN_PATH = re.compile(r"^/([^/]+)/oauth2/v2\.0/token$")
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
TOKEN_LIFETIME = 3599
CONTENT_TYPE = (
    "application/json;odata.metadata=minimal;odata.streaming=true;"
    "IEEE754Compatible=false;charset=utf-8"
)
DEFAULT_PAGE_SIZE = 100  # Microsoft: "default page size is 100"
MAX_PAGE_SIZE = 1000  # Microsoft: "cannot be greater than 1000"

# --- Microsoft's vocabularies ---------------------------------------------------------------

SERVICE_HEALTH_STATUSES = (
    "serviceOperational",
    "investigating",
    "restoringService",
    "verifyingService",
    "serviceRestored",
    "postIncidentReviewPublished",
    "serviceDegradation",
    "serviceInterruption",
    "extendedRecovery",
    "falsePositive",
    "investigationSuspended",
    "resolved",
    "mitigatedExternal",
    "mitigated",
    "resolvedExternal",
    "confirmed",
    "reported",
    "unknownFutureValue",
)
CLASSIFICATIONS = ("advisory", "incident", "unknownFutureValue")
ORIGINS = ("microsoft", "thirdParty", "customer", "unknownFutureValue")
POST_TYPES = ("regular", "quick", "strategic", "unknownFutureValue")

# A step to one of these closes the issue (isResolved, endDateTime) unless it says otherwise.
RESOLVED_STATUSES = frozenset(
    {
        "serviceRestored",
        "postIncidentReviewPublished",
        "falsePositive",
        "resolved",
        "resolvedExternal",
    }
)
# A step to one of these (re)opens it. Values outside both sets leave it as it was.
OPEN_STATUSES = frozenset(SERVICE_HEALTH_STATUSES) - RESOLVED_STATUSES - {"unknownFutureValue"}

# For a tenant's health overview: the worst unresolved incident wins. Unknown values rank as
# "something is wrong" rather than healthy.
SEVERITY = {
    "serviceInterruption": 9,
    "serviceDegradation": 8,
    "extendedRecovery": 7,
    "restoringService": 6,
    "investigating": 5,
    "confirmed": 5,
    "reported": 4,
    "verifyingService": 3,
    "investigationSuspended": 2,
    "mitigated": 2,
    "mitigatedExternal": 2,
}
UNKNOWN_SEVERITY = 4

# Graph's service ids and display names (healthOverviews ``id`` and ``service``), with the prefix
# Microsoft gives the ids of that service's issues.
SERVICES = {
    "Exchange": ("Exchange Online", "EX"),
    "microsoftteams": ("Microsoft Teams", "TM"),
    "SharePoint": ("SharePoint Online", "SP"),
    "OneDriveForBusiness": ("OneDrive for Business", "OD"),
    "OrgLiveID": ("Microsoft Entra", "AD"),
    "Intune": ("Microsoft Intune", "IT"),
    "OSDPPlatform": ("Microsoft 365 suite", "MO"),
    "PowerPlatform": ("Power Platform", "PP"),
    "DynamicsCRM": ("Dynamics 365 Apps", "CR"),
    "Microsoft365Defender": ("Microsoft Defender XDR", "DZ"),
}
CORE_SERVICES = (
    "Exchange",
    "microsoftteams",
    "SharePoint",
    "OneDriveForBusiness",
    "OrgLiveID",
    "OSDPPlatform",
)


# --- time ------------------------------------------------------------------------------------


def _to_ms(value):
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def service_time(value):
    """Service communications' timestamp style: milliseconds, trailing zeros dropped, Z
    ("2020-11-20T17:56:31.39Z", "2020-11-13T21:00:00Z")."""
    if value is None:
        return None
    value = value.astimezone(UTC)
    fraction = f"{value.microsecond // 1000:03d}".rstrip("0")
    return value.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}Z" if fraction else "Z")


def _parse_literal_datetime(text):
    """An OData DateTimeOffset literal (unquoted ISO 8601 with Z or an offset)."""
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d{1,7})?)?(Z|[+-]\d\d:\d\d)", text):
        return None
    head, _dot, rest = text.partition(".")
    if rest:
        digits = re.match(r"\d+", rest).group()
        text = f"{head}.{digits[:6].ljust(6, '0')}{rest[len(digits) :]}"
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


def _long_time(value):
    """How Microsoft's posts write times: "Thursday, November 27, 2026, at 9:30 AM UTC"."""
    hour = value.hour % 12 or 12
    return (
        f"{value:%A}, {value:%B} {value.day}, {value.year}, at {hour}:{value:%M} "
        f"{'AM' if value.hour < 12 else 'PM'} UTC"
    )


# --- the model -------------------------------------------------------------------------------


@dataclass
class SimulatedTenant:
    """One tenant as the simulator knows it: the app's credentials there and its services."""

    tenant_id: str
    client_id: str
    client_secret: str = field(repr=False)
    display_name: str = ""
    services: list = field(default_factory=list)  # Graph service ids, in overview order
    issue_ids: set = field(default_factory=set)  # issues that affect this tenant
    # False: the app has no admin consent here: tokens are issued, Graph answers 403.
    consented: bool = True


@dataclass
class IssueStep:
    """One moment in an issue's life: its status from ``at`` on, and the post published then.

    ``resolved``: None derives it from the status (RESOLVED_STATUSES close, OPEN_STATUSES open,
    any other value leaves it as it was). ``content`` None: the status changes without a post.
    """

    at: datetime
    status: str
    content: str | None = None
    post_type: str = "regular"
    resolved: bool | None = None


@dataclass
class SimulatedIssue:
    """A Microsoft issue, published once and shown to every tenant in ``tenant_ids``."""

    id: str
    service_id: str
    title: str
    impact_description: str
    classification: str = "incident"
    origin: str = "microsoft"
    feature: str = ""
    feature_group: str = ""
    high_impact: bool = False
    details: list = field(default_factory=list)  # [{"name", "value"}]
    steps: list = field(default_factory=list)  # IssueStep, in time order
    started: datetime | None = None  # startDateTime; the first step when None
    tenant_ids: set = field(default_factory=set)
    overrides: dict = field(default_factory=dict)  # served values replacing the real ones


@dataclass
class IssueState:
    """An issue as of one moment."""

    status: str
    is_resolved: bool
    started: datetime
    ended: datetime | None
    modified: datetime
    posts: list  # IssueStep with content


@dataclass
class Fault:
    status: int
    headers: dict = field(default_factory=dict)
    body: bytes | None = None
    delay: float = 0.0
    tenant_id: str | None = None
    truncate_to: int | None = None


class _HttpError(Exception):
    def __init__(self, status, payload, headers=None):
        super().__init__(status)
        self.status = status
        self.payload = payload
        self.headers = headers or {}


def _graph_error(status, code, message, request_id=None, client_request_id=None):
    inner = {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        "request-id": request_id or str(uuid.uuid4()),
        "client-request-id": client_request_id or request_id or str(uuid.uuid4()),
    }
    return _HttpError(status, {"error": {"code": code, "message": message, "innerError": inner}})


def _identity_error(status, error, code, description):
    """Microsoft Entra's token-endpoint error shape."""
    trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    return _HttpError(
        status,
        {
            "error": error,
            "error_description": (
                f"AADSTS{code}: {description} Trace ID: {trace} Correlation ID: {correlation} "
                f"Timestamp: {stamp}"
            ),
            "error_codes": [code],
            "timestamp": stamp,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": f"https://login.microsoftonline.com/error?code={code}",
        },
    )


# --- $filter -----------------------------------------------------------------------------------

_CLAUSE = re.compile(r"^\s*(\w+)\s+(eq|ne|ge|gt|le|lt)\s+(.+?)\s*$")
_DATE_FIELDS = {"lastModifiedDateTime", "startDateTime", "endDateTime"}
_BOOL_FIELDS = {"isResolved", "highImpact"}
_STRING_FIELDS = {
    "id",
    "title",
    "service",
    "status",
    "classification",
    "origin",
    "feature",
    "featureGroup",
}
_COMPARE = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "ge": lambda a, b: a is not None and a >= b,
    "gt": lambda a, b: a is not None and a > b,
    "le": lambda a, b: a is not None and a <= b,
    "lt": lambda a, b: a is not None and a < b,
}


def _parse_filter(text):
    """``$filter`` as a list of (field, operator, value); raises _HttpError 400 if unsupported."""

    def refuse(why):
        return _graph_error(400, "BadRequest", f"Invalid filter clause: {why}")

    clauses = []
    for part in re.split(r"\s+and\s+", text.strip()):
        match = _CLAUSE.match(part)
        if not match:
            raise refuse(f"the query specified in the URI is not valid ('{part}').")
        name, operator, literal = match.groups()
        if name in _DATE_FIELDS:
            if literal == "null" and operator in ("eq", "ne"):
                value = None
            else:
                value = _parse_literal_datetime(literal)
                if value is None:
                    raise refuse(f"'{literal}' is not a valid DateTimeOffset literal.")
        elif name in _BOOL_FIELDS:
            if literal not in ("true", "false") or operator not in ("eq", "ne"):
                raise refuse(f"'{name} {operator} {literal}' is not supported.")
            value = literal == "true"
        elif name in _STRING_FIELDS:
            if not (len(literal) >= 2 and literal[0] == literal[-1] == "'"):
                raise refuse(f"'{literal}' is not a string literal.")
            if operator not in ("eq", "ne"):
                raise refuse(f"operator '{operator}' is not supported on '{name}'.")
            value = literal[1:-1].replace("''", "'")
        else:
            raise refuse(
                f"Could not find a property named '{name}' on type "
                "'microsoft.graph.serviceHealthIssue'."
            )
        clauses.append((name, operator, value))
    return clauses


_ISSUE_FIELDS = (
    "startDateTime",
    "endDateTime",
    "lastModifiedDateTime",
    "title",
    "id",
    "impactDescription",
    "classification",
    "origin",
    "status",
    "service",
    "feature",
    "featureGroup",
    "isResolved",
    "highImpact",
    "details",
    "posts",
)


class ServiceHealthSimulator:
    """A WSGI app serving Graph service communications for every tenant in ``tenants``."""

    def __init__(self, *, page_size=DEFAULT_PAGE_SIZE, seven_digit_times=False):
        self.tenants = {}  # tenant id -> SimulatedTenant
        self.issues = {}  # issue id -> SimulatedIssue (the shared catalogue)
        self.services = {sid: name for sid, (name, _prefix) in SERVICES.items()}
        self.page_size = page_size
        self.seven_digit_times = seven_digit_times
        self.faults = []  # Fault, consumed in order (with their path prefix)
        self.requests = []  # (method, path, query, headers)
        self.lock = threading.RLock()
        self._offset = 0.0  # seconds added to real time by advance()
        self._tokens = {}  # token -> (tenant id, expires at on the scenario clock)
        self._token_tenants = {}  # every token ever issued -> tenant id (for the request log)
        # Where the simulator is served, for the absolute @odata.nextLink; set once serving.
        self.base_url = "http://127.0.0.1"

    # --- clock ------------------------------------------------------------------------------
    def now(self):
        """The scenario time: real time plus everything ``advance`` added, to the millisecond."""
        with self.lock:
            offset = self._offset
        return _to_ms(datetime.now(UTC) + timedelta(seconds=offset))

    def advance(self, seconds):
        """Move the scenario clock forward: scheduled steps up to the new time happen."""
        with self.lock:
            self._offset += float(seconds)
        return self.now()

    # --- building a scenario ---------------------------------------------------------------
    def add_service(self, service_id, name):
        self.services[service_id] = name

    def add_tenant(
        self,
        tenant_id,
        *,
        client_id,
        client_secret,
        services=None,
        display_name="",
        consented=True,
    ):
        tenant_id = str(tenant_id)
        services = list(services if services is not None else self.services)
        unknown = [s for s in services if s not in self.services]
        if unknown:
            raise ValueError(f"Unknown service ids: {unknown}")
        with self.lock:
            if tenant_id in self.tenants:
                raise ValueError(f"Tenant {tenant_id} already exists.")
            tenant = SimulatedTenant(
                tenant_id=tenant_id,
                client_id=client_id,
                client_secret=client_secret,
                display_name=display_name,
                services=services,
                consented=consented,
            )
            self.tenants[tenant_id] = tenant
        return tenant

    def add_issue(
        self,
        issue_id,
        *,
        service_id,
        title,
        impact_description,
        steps,
        tenant_ids,
        classification="incident",
        origin="microsoft",
        feature="",
        feature_group="",
        high_impact=False,
        details=None,
        started=None,
    ):
        """Publish an issue to the tenants in ``tenant_ids``. ``steps``: IssueStep objects or
        ``(at, status, content[, post_type[, resolved]])`` tuples; an issue is invisible until
        its first step."""
        if service_id not in self.services:
            raise ValueError(f"Unknown service id {service_id!r}.")
        steps = sorted(
            (s if isinstance(s, IssueStep) else IssueStep(*s) for s in steps),
            key=lambda s: s.at,
        )
        if not steps:
            raise ValueError("An issue needs at least one step.")
        for step in steps:
            step.at = _to_ms(step.at.astimezone(UTC))
        issue = SimulatedIssue(
            id=issue_id,
            service_id=service_id,
            title=title,
            impact_description=impact_description,
            classification=classification,
            origin=origin,
            feature=feature,
            feature_group=feature_group,
            high_impact=high_impact,
            details=list(details or []),
            steps=steps,
            started=started,
        )
        with self.lock:
            if issue_id in self.issues:
                raise ValueError(f"Issue {issue_id} already exists.")
            self.issues[issue_id] = issue
            self.assign(issue_id, tenant_ids)
        return issue

    def assign(self, issue_id, tenant_ids):
        """Show an existing issue to more tenants."""
        with self.lock:
            issue = self.issues[issue_id]
            for tenant_id in tenant_ids:
                tenant = self.tenants[str(tenant_id)]
                tenant.issue_ids.add(issue_id)
                issue.tenant_ids.add(tenant.tenant_id)

    def add_update(
        self, issue_id, status, content=None, *, at=None, post_type="regular", resolved=None
    ):
        """Microsoft posts an update to an issue (now, unless ``at`` says when)."""
        step = IssueStep(
            at=_to_ms((at or self.now()).astimezone(UTC)),
            status=status,
            content=content,
            post_type=post_type,
            resolved=resolved,
        )
        with self.lock:
            steps = self.issues[issue_id].steps
            keys = [s.at for s in steps]
            steps.insert(bisect.bisect_right(keys, step.at), step)
        return step

    def inject_unknown_enum(
        self,
        issue_id,
        *,
        status="someFutureStatus",
        post_type="someFuturePostType",
        classification=None,
        origin=None,
    ):
        """Microsoft starts using values the documentation does not list (yet), on one issue:
        an update now with ``status`` and a post of ``post_type``; ``classification`` and
        ``origin``, when given, replace the issue's own."""
        with self.lock:
            issue = self.issues[issue_id]
            if classification is not None:
                issue.overrides["classification"] = classification
            if origin is not None:
                issue.overrides["origin"] = origin
        issue = self.issues[issue_id]
        return self.add_update(
            issue_id,
            status,
            f"Title: {issue.title}\n\nUser impact: {issue.impact_description}\n\n"
            "Current status: We're continuing to monitor the service.",
            post_type=post_type,
        )

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
        tenant_id=None,
        truncate_to=None,
    ):
        """The next ``times`` requests whose path starts with ``path_prefix`` (and, with
        ``tenant_id``, that come from that tenant) answer ``status`` with ``headers`` and
        ``body`` (a Graph error body when None) after ``delay`` seconds. Status 200 with no
        body only delays. ``truncate_to``: serve the real answer cut to that many bytes."""
        with self.lock:
            for _ in range(times):
                self.faults.append(
                    (
                        path_prefix,
                        Fault(
                            status,
                            dict(headers or {}),
                            body,
                            delay,
                            str(tenant_id) if tenant_id is not None else None,
                            truncate_to,
                        ),
                    )
                )

    def _take_fault(self, path, tenant_id):
        with self.lock:
            for index, (prefix, fault) in enumerate(self.faults):
                if path.startswith(prefix) and fault.tenant_id in (None, tenant_id):
                    del self.faults[index]
                    return fault
        return None

    def revoke_tokens(self, tenant_id=None):
        with self.lock:
            for token, (owner, _expires) in list(self._tokens.items()):
                if tenant_id is None or owner == str(tenant_id):
                    del self._tokens[token]

    def requests_by_tenant(self, tenant_id):
        """The logged requests made as ``tenant_id`` (token requests and Graph calls)."""
        tenant_id = str(tenant_id)
        with self.lock:
            logged = list(self.requests)
        return [r for r in logged if self._request_tenant(r[0], r[1], r[3]) == tenant_id]

    # --- reading the scenario ---------------------------------------------------------------
    def state(self, issue_id, at=None):
        """The issue as of ``at`` (default now); None before its first step."""
        return self._state(self.issues[issue_id], at or self.now())

    def issue_json(self, issue_id, at=None):
        """The issue exactly as Graph serves it as of ``at`` (default now)."""
        at = at or self.now()
        with self.lock:
            issue = self.issues[issue_id]
            state = self._state(issue, at)
            return self._issue_json(issue, state) if state else None

    def issues_for(self, tenant_id, at=None):
        """All issues ``tenant_id`` sees as of ``at``, as Graph serves them, by id."""
        at = at or self.now()
        with self.lock:
            tenant = self.tenants[str(tenant_id)]
            return [self._issue_json(i, s) for i, s in self._visible(tenant, at)]

    def overview_status(self, tenant_id, service_id, at=None):
        at = at or self.now()
        with self.lock:
            visible = self._visible(self.tenants[str(tenant_id)], at)
            return self._overview_status(service_id, visible)

    def _state(self, issue, at):
        status, resolved, ended, modified, posts = None, False, None, None, []
        for step in issue.steps:
            if step.at > at:
                break
            status = step.status
            if step.resolved is not None:
                now_resolved = step.resolved
            elif step.status in RESOLVED_STATUSES:
                now_resolved = True
            elif step.status in OPEN_STATUSES:
                now_resolved = False
            else:
                now_resolved = resolved
            if now_resolved and not resolved:
                ended = step.at
            elif not now_resolved:
                ended = None
            resolved = now_resolved
            modified = step.at
            if step.content is not None:
                posts.append(step)
        if status is None:
            return None
        started = issue.started or issue.steps[0].at.replace(second=0, microsecond=0)
        return IssueState(
            status=issue.overrides.get("status", status),
            is_resolved=resolved,
            started=started,
            ended=ended,
            modified=modified,
            posts=posts,
        )

    def _visible(self, tenant, at):
        """(issue, state) pairs the tenant sees as of ``at``, ordered by issue id."""
        result = []
        for issue_id in sorted(tenant.issue_ids):
            issue = self.issues[issue_id]
            state = self._state(issue, at)
            if state is not None:
                result.append((issue, state))
        return result

    def _time(self, value):
        return graph_time(value) if self.seven_digit_times else service_time(value)

    def _issue_json(self, issue, state):
        return {
            "startDateTime": self._time(state.started),
            "endDateTime": self._time(state.ended),
            "lastModifiedDateTime": self._time(state.modified),
            "title": issue.title,
            "id": issue.id,
            "impactDescription": issue.impact_description,
            "classification": issue.overrides.get("classification", issue.classification),
            "origin": issue.overrides.get("origin", issue.origin),
            "status": state.status,
            "service": self.services[issue.service_id],
            "feature": issue.feature,
            "featureGroup": issue.feature_group,
            "isResolved": state.is_resolved,
            "highImpact": issue.high_impact,
            "details": [dict(d) for d in issue.details],
            "posts": [
                {
                    "createdDateTime": self._time(post.at),
                    "postType": post.post_type,
                    "description": {"contentType": "html", "content": post.content},
                }
                for post in state.posts
            ],
        }

    def _overview_status(self, service_id, visible):
        worst, worst_rank = "serviceOperational", 0
        for issue, state in visible:
            if (
                issue.service_id != service_id
                or state.is_resolved
                or issue.overrides.get("classification", issue.classification) != "incident"
            ):
                continue
            rank = SEVERITY.get(state.status, UNKNOWN_SEVERITY)
            if rank > worst_rank:
                worst, worst_rank = state.status, rank
        return worst

    # --- WSGI -------------------------------------------------------------------------------
    def __call__(self, environ, start_response):
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "")
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        headers = {
            key[5:].replace("_", "-").title(): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        request_id = str(uuid.uuid4())
        client_request_id = headers.get("Client-Request-Id", request_id)
        reply_headers = {"request-id": request_id, "client-request-id": client_request_id}
        with self.lock:
            self.requests.append((method, path, query, headers))
        fault = self._take_fault(path, self._request_tenant(method, path, headers))
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.body is not None or (fault.status != 200 and fault.truncate_to is None):
                body = fault.body
                if body is None:
                    body = self._fault_body(fault.status, request_id, client_request_id)
                return self._respond(
                    start_response, fault.status, body, {**reply_headers, **fault.headers}
                )
        try:
            status, payload, extra = self._route(environ, method, path, query, headers)
        except _HttpError as error:
            status, payload, extra = error.status, error.payload, error.headers
            if isinstance(payload.get("error"), dict):
                payload["error"]["innerError"].update(
                    {"request-id": request_id, "client-request-id": client_request_id}
                )
        body = json.dumps(payload, ensure_ascii=False).encode()
        if fault is not None and fault.truncate_to is not None:
            body = body[: fault.truncate_to]
            status = fault.status
            extra = {**extra, **fault.headers}
        return self._respond(start_response, status, body, {**reply_headers, **extra})

    def _respond(self, start_response, status, body, headers):
        headers = dict(headers)
        content_type = headers.pop("Content-Type", CONTENT_TYPE)
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Status"
        start_response(
            f"{status} {reason}",
            [
                ("Content-Type", content_type),
                ("Content-Length", str(len(body))),
                *headers.items(),
            ],
        )
        return [body]

    @staticmethod
    def _fault_body(status, request_id, client_request_id):
        codes = {
            400: "BadRequest",
            401: "InvalidAuthenticationToken",
            403: "Forbidden",
            404: "NotFound",
            429: "TooManyRequests",
            503: "ServiceNotAvailable",
            504: "GatewayTimeout",
        }
        error = _graph_error(
            status,
            codes.get(status, "UnknownError"),
            f"Simulated {status}.",
            request_id,
            client_request_id,
        )
        return json.dumps(error.payload).encode()

    def _request_tenant(self, method, path, headers):
        """Whose request this is: the tenant in a token request's path, else the token's."""
        match = TOKEN_PATH.match(path)
        if method == "POST" and match:
            return match.group(1)
        auth = headers.get("Authorization", "")
        with self.lock:
            return self._token_tenants.get(auth[7:]) if auth.startswith("Bearer ") else None

    # --- routes -----------------------------------------------------------------------------
    def _route(self, environ, method, path, query, headers):
        match = TOKEN_PATH.match(path)
        if match:
            if method != "POST":
                raise _HttpError(405, {"error": "invalid_request"})
            return self._token(environ, match.group(1))
        if not path.startswith(ANNOUNCEMENT + "/"):
            raise _graph_error(
                400, "BadRequest", f"Resource not found for the segment '{path.strip('/')}'."
            )
        if method != "GET":
            raise _graph_error(405, "BadRequest", f"The HTTP method '{method}' is not allowed.")
        tenant = self._authorise(headers)
        at = self.now()
        parts = []
        for segment in path[len(ANNOUNCEMENT) :].split("/"):
            # OData key syntax: healthOverviews('Exchange'), issues('EX123456').
            keyed = re.fullmatch(r"(\w+)\('((?:[^']|'')*)'\)", segment)
            if keyed:
                parts += [keyed.group(1), keyed.group(2).replace("''", "'")]
            elif segment:
                parts.append(segment)
        if not parts:
            raise _graph_error(400, "BadRequest", "Resource not found for the segment ''.")
        with self.lock:
            visible = self._visible(tenant, at)
            if parts[0] == "healthOverviews":
                return self._health(tenant, visible, parts[1:], query, headers, path)
            if parts[0] == "issues":
                if len(parts) == 1:
                    return self._collection(
                        visible,
                        query,
                        headers,
                        path,
                        f"{GRAPH_METADATA}#admin/serviceAnnouncement/issues",
                    )
                if len(parts) == 2:
                    return self._single_issue(visible, parts[1], query)
        raise _graph_error(400, "BadRequest", f"Resource not found for the segment '{parts[-1]}'.")

    def _token(self, environ, tenant_id):
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        form = parse_qs(environ["wsgi.input"].read(length).decode(errors="replace"))
        given = {key: values[0] for key, values in form.items()}
        with self.lock:
            tenant = self.tenants.get(tenant_id)
        if tenant is None:
            raise _identity_error(
                400,
                "invalid_request",
                90002,
                f"Tenant '{tenant_id}' not found. Check to make sure you have the correct "
                "tenant ID and are signing into the correct cloud.",
            )
        if given.get("grant_type") != "client_credentials":
            raise _identity_error(
                400,
                "unsupported_grant_type",
                70003,
                "The app requested an unsupported grant type.",
            )
        if given.get("client_id") != tenant.client_id:
            raise _identity_error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{given.get('client_id', '')}' was not found in "
                f"the directory '{tenant_id}'.",
            )
        if given.get("client_secret") != tenant.client_secret:
            raise _identity_error(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is "
                f"the client secret value, not the client secret ID, for a secret added to app "
                f"'{tenant.client_id}'.",
            )
        if not given.get("scope", "").endswith("/.default"):
            raise _identity_error(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {given.get('scope', '')} is not valid. Client "
                "credential flows must have a scope value with /.default suffixed to the "
                "resource identifier (application ID URI).",
            )
        token = f"sim-sh-{uuid.uuid4().hex}"
        with self.lock:
            self._tokens[token] = (tenant_id, self.now() + timedelta(seconds=TOKEN_LIFETIME))
            self._token_tenants[token] = tenant_id
        return (
            200,
            {
                "token_type": "Bearer",
                "expires_in": TOKEN_LIFETIME,
                "ext_expires_in": TOKEN_LIFETIME,
                "access_token": token,
            },
            {},
        )

    def _authorise(self, headers):
        auth = headers.get("Authorization", "")
        token = auth[7:].strip() if auth.startswith("Bearer ") else ""
        with self.lock:
            owner = self._tokens.get(token)
        challenge = {"WWW-Authenticate": 'Bearer realm="", authorization_uri="", client_id=""'}
        if not token:
            error = _graph_error(401, "InvalidAuthenticationToken", "Access token is empty.")
            error.headers = challenge
            raise error
        if owner is None:
            error = _graph_error(
                401, "InvalidAuthenticationToken", "Access token validation failure."
            )
            error.headers = challenge
            raise error
        tenant_id, expires = owner
        if expires <= self.now():
            error = _graph_error(
                401,
                "InvalidAuthenticationToken",
                "Lifetime validation failed, the token is expired.",
            )
            error.headers = challenge
            raise error
        tenant = self.tenants[tenant_id]
        if not tenant.consented:
            raise _graph_error(
                403, "Forbidden", "Caller does not have access to the requested resource."
            )
        return tenant

    def _health(self, tenant, visible, rest, query, headers, path):
        expand = query.get("$expand", [""])[0].strip()
        if expand not in ("", "issues"):
            raise _graph_error(
                400,
                "BadRequest",
                f"Could not find a property named '{expand}' on type "
                "'microsoft.graph.serviceHealth'.",
            )

        def overview(service_id, with_issues):
            item = {
                "service": self.services[service_id],
                "status": self._overview_status(service_id, visible),
                "id": service_id,
            }
            if with_issues:
                item["issues"] = [
                    self._issue_json(i, s) for i, s in visible if i.service_id == service_id
                ]
            return item

        base = f"{GRAPH_METADATA}#admin/serviceAnnouncement/healthOverviews"
        if not rest:
            return (
                200,
                {
                    "@odata.context": base + ("(issues())" if expand else ""),
                    "value": [overview(sid, bool(expand)) for sid in tenant.services],
                },
                {},
            )
        key = rest[0]
        service_id = next(
            (
                sid
                for sid in tenant.services
                if key.lower() in (sid.lower(), self.services[sid].lower())
            ),
            None,
        )
        if service_id is None:
            raise _graph_error(404, "NotFound", f"Service '{key}' was not found for the tenant.")
        if len(rest) == 1:
            return (
                200,
                {"@odata.context": base + "/$entity", **overview(service_id, bool(expand))},
                {},
            )
        if len(rest) == 2 and rest[1] == "issues":
            mine = [(i, s) for i, s in visible if i.service_id == service_id]
            return self._collection(mine, query, headers, path, f"{base}('{service_id}')/issues")
        raise _graph_error(400, "BadRequest", f"Resource not found for the segment '{rest[-1]}'.")

    def _select(self, query):
        raw = query.get("$select", [""])[0].strip()
        if not raw:
            return None
        names = [n.strip() for n in raw.split(",") if n.strip()]
        unknown = [n for n in names if n not in _ISSUE_FIELDS]
        if unknown:
            raise _graph_error(
                400,
                "BadRequest",
                f"Could not find a property named '{unknown[0]}' on type "
                "'microsoft.graph.serviceHealthIssue'.",
            )
        return ["id", *[n for n in names if n != "id"]]

    @staticmethod
    def _shape(item, fields):
        return item if fields is None else {name: item[name] for name in fields}

    def _single_issue(self, visible, issue_id, query):
        fields = self._select(query)
        for issue, state in visible:
            if issue.id == issue_id:
                return (
                    200,
                    {
                        "@odata.context": f"{GRAPH_METADATA}#admin/serviceAnnouncement/issues/$entity",
                        **self._shape(self._issue_json(issue, state), fields),
                    },
                    {},
                )
        raise _graph_error(
            404, "NotFound", f"The service health issue '{issue_id}' was not found for the tenant."
        )

    def _page_size(self, query, headers):
        extra = {}
        if "$top" in query:
            raw = query["$top"][0]
            if not raw.isdigit() or int(raw) < 1:
                raise _graph_error(
                    400, "BadRequest", f"Invalid value '{raw}' for $top query option found."
                )
            return min(int(raw), MAX_PAGE_SIZE), extra
        match = re.search(r"odata\.maxpagesize=(\d+)", headers.get("Prefer", ""))
        if match and int(match.group(1)) > 0:
            size = min(int(match.group(1)), MAX_PAGE_SIZE)
            extra["Preference-Applied"] = f"odata.maxpagesize={size}"
            return size, extra
        return self.page_size, extra

    def _collection(self, visible, query, headers, path, context):
        fields = self._select(query)
        size, extra = self._page_size(query, headers)
        raw_filter = query.get("$filter", [""])[0]
        if raw_filter.strip():
            clauses = _parse_filter(raw_filter)
            visible = [(i, s) for i, s in visible if self._matches(i, s, clauses)]
        total = len(visible)
        if "$skip" in query:
            raw = query["$skip"][0]
            if not raw.isdigit():
                raise _graph_error(
                    400, "BadRequest", f"Invalid value '{raw}' for $skip query option found."
                )
            visible = visible[int(raw) :]
        if "$skiptoken" in query:
            after = _decode_skiptoken(query["$skiptoken"][0])
            visible = [(i, s) for i, s in visible if i.id > after]
        page = visible[:size]
        payload = {"@odata.context": context}
        if query.get("$count", [""])[0].lower() == "true":
            payload["@odata.count"] = total
        if len(visible) > size:
            kept = {
                key: values[0]
                for key, values in query.items()
                if key in ("$filter", "$top", "$select", "$count")
            }
            kept["$skiptoken"] = _encode_skiptoken(page[-1][0].id)
            payload["@odata.nextLink"] = (
                f"{self.base_url}{quote(path)}?{urlencode(kept, quote_via=quote, safe=':,$')}"
            )
        payload["value"] = [self._shape(self._issue_json(i, s), fields) for i, s in page]
        return 200, payload, extra

    def _matches(self, issue, state, clauses):
        for name, operator, value in clauses:
            if name in _DATE_FIELDS:
                actual = {
                    "lastModifiedDateTime": state.modified,
                    "startDateTime": state.started,
                    "endDateTime": state.ended,
                }[name]
            elif name == "isResolved":
                actual = state.is_resolved
            elif name == "highImpact":
                actual = issue.high_impact
            else:
                actual = {
                    "id": issue.id,
                    "title": issue.title,
                    "service": self.services[issue.service_id],
                    "status": state.status,
                    "classification": issue.overrides.get("classification", issue.classification),
                    "origin": issue.overrides.get("origin", issue.origin),
                    "feature": issue.feature,
                    "featureGroup": issue.feature_group,
                }[name]
            if value is None and operator in ("eq", "ne"):
                if (actual is None) != (operator == "eq"):
                    return False
                continue
            if not _COMPARE[operator](actual, value):
                return False
        return True


def _encode_skiptoken(last_id):
    return base64.urlsafe_b64encode(f"after:{last_id}".encode()).decode().rstrip("=")


def _decode_skiptoken(token):
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        text = ""
    if not text.startswith("after:"):
        raise _graph_error(400, "BadRequest", "The $skiptoken is not valid.")
    return text[len("after:") :]


# --- scenarios ---------------------------------------------------------------------------------


def _post(title, impact, current, *, scope=None, next_update=None, final=None):
    """A post in the shape Microsoft writes them (plain lines in an html body)."""
    lines = [f"Title: {title}", "", f"User impact: {impact}", ""]
    if final:
        lines += [f"Final status: {current}", ""]
    else:
        lines += [f"Current status: {current}", ""]
    if scope:
        lines += [f"Scope of impact: {scope}", ""]
    if final:
        start, end, root_cause = final
        lines += [
            f"Start time: {_long_time(start)}",
            "",
            f"End time: {_long_time(end)}",
            "",
            f"Root cause: {root_cause}",
            "",
            "This is the final update for the event.",
        ]
    elif next_update:
        lines += [f"Next update by: {_long_time(next_update)}"]
    return "\n".join(lines).strip()


# Each demo issue: when steps happen (minutes from the start of the scenario; negative is in
# the past), with what status and what Microsoft said. "share": which share of the tenants that
# have the service see it (1.0: all of them).
_DEMO_ISSUES = [
    {
        "id": "EX982143",
        "service": "Exchange",
        "share": 1.0,
        "high_impact": True,
        "feature": "Outlook on the web",
        "feature_group": "E-Mail and calendar access",
        "title": "Users may be unable to access their mailboxes using Outlook on the web",
        "impact": "Users may be unable to access their mailboxes using Outlook on the web.",
        "scope": "Any user attempting to access their mailbox using Outlook on the web may be "
        "affected. Desktop and mobile clients are not affected.",
        "root_cause": "A recent configuration change to the infrastructure that handles "
        "authentication for Outlook on the web caused requests to time out.",
        "steps": [
            (
                -24,
                "investigating",
                "quick",
                "We're investigating a potential issue with "
                "Outlook on the web and are reviewing service telemetry to determine the scope.",
            ),
            (
                -15,
                "serviceDegradation",
                "regular",
                "We've identified that a recent configuration "
                "change is causing authentication requests for Outlook on the web to time out. "
                "We're preparing to revert the change.",
            ),
            (
                2,
                "restoringService",
                "regular",
                "We've reverted the configuration change and are "
                "monitoring as access returns for affected users.",
            ),
            (
                6,
                "serviceRestored",
                "regular",
                "We've confirmed from telemetry that reverting "
                "the change restored access to Outlook on the web.",
            ),
        ],
    },
    {
        "id": "TM301122",
        "service": "microsoftteams",
        "share": 0.6,
        "high_impact": True,
        "feature": "Teams Components",
        "feature_group": "Meetings",
        "title": "Users may be unable to join Microsoft Teams meetings",
        "impact": "Users may be unable to join Microsoft Teams meetings, or may be disconnected "
        "from meetings in progress.",
        "scope": "Users served through the affected infrastructure in Europe may be impacted.",
        "root_cause": "A section of infrastructure that manages meeting sessions was "
        "performing below acceptable thresholds.",
        "steps": [
            (
                -41,
                "investigating",
                "quick",
                "We're investigating reports that users are unable "
                "to join Microsoft Teams meetings.",
            ),
            (
                -32,
                "serviceInterruption",
                "regular",
                "We've determined that a section of "
                "infrastructure that manages meeting sessions isn't processing requests as "
                "expected. We're redirecting traffic to alternate infrastructure.",
            ),
            (
                4,
                "extendedRecovery",
                "regular",
                "Traffic redirection has completed for most "
                "users, and we're monitoring as the remaining sessions recover.",
            ),
            (
                12,
                "serviceRestored",
                "regular",
                "We've confirmed that meeting join requests are "
                "succeeding for all users after traffic was redirected.",
            ),
        ],
    },
    {
        "id": "SP254133",
        "service": "SharePoint",
        "share": 0.5,
        "feature": "SharePoint Features",
        "feature_group": "SharePoint Features",
        "title": "Users were unable to access some SharePoint Online sites",
        "impact": "Users were unable to access some SharePoint Online sites and the files "
        "stored in them.",
        "scope": "Users whose sites are hosted on the affected infrastructure were impacted.",
        "root_cause": "A code change intended to improve site performance introduced a "
        "regression that caused some site requests to fail.",
        "steps": [
            (
                -3 * 1440,
                "investigating",
                "quick",
                "We're investigating reports of users being "
                "unable to access SharePoint Online sites.",
            ),
            (
                -3 * 1440 + 20,
                "serviceInterruption",
                "regular",
                "We've identified a recent code "
                "change that's causing site requests to fail and we're rolling it back.",
            ),
            (
                -3 * 1440 + 95,
                "serviceRestored",
                "regular",
                "The rollback completed and we've "
                "confirmed that access to the affected sites is restored.",
            ),
            (
                -1440,
                "postIncidentReviewPublished",
                "strategic",
                "A post-incident report has "
                "been published. It describes the root cause and the steps we're taking to "
                "prevent a recurrence.",
            ),
        ],
    },
    {
        "id": "OD311876",
        "service": "OneDriveForBusiness",
        "share": 0.4,
        "classification": "advisory",
        "feature": "Sync",
        "feature_group": "OneDrive for Business",
        "title": "Users may see delays when syncing files with the OneDrive sync client",
        "impact": "Users may see delays of up to an hour before changes sync through the "
        "OneDrive sync client.",
        "scope": "Some users syncing large libraries may notice the delays.",
        "steps": [
            (
                -180,
                "investigating",
                "regular",
                "We're reviewing reports that file changes are slow to sync.",
            ),
            (
                -120,
                "serviceDegradation",
                "regular",
                "We've identified that a processing queue "
                "is backlogged and are adding capacity to process it.",
            ),
        ],
    },
    {
        "id": "IT994521",
        "service": "Intune",
        "share": 0.7,
        "feature": "Reporting",
        "feature_group": "Microsoft Intune",
        "title": "Admins may see delays in device compliance reporting in Microsoft Intune",
        "impact": "Admins may see device compliance states in the Microsoft Intune admin "
        "center that are several hours out of date.",
        "scope": "Admins viewing compliance reports may be affected; device compliance "
        "evaluation itself is not affected.",
        "root_cause": "A reporting pipeline component was processing data slower than "
        "expected after a scheduled update.",
        "steps": [
            (-5, "investigating", "quick", "We're investigating delays in compliance reporting."),
            (
                8,
                "verifyingService",
                "regular",
                "We've restarted the affected reporting "
                "component and are verifying that reports are current.",
            ),
            (
                15,
                "serviceRestored",
                "regular",
                "We've verified that compliance reports are current again.",
            ),
        ],
    },
    {
        "id": "AD876012",
        "service": "OrgLiveID",
        "share": 0.5,
        "origin": "customer",
        "feature": "Multi-factor authentication",
        "feature_group": "Authentication",
        "title": "Some users may be unable to complete multifactor authentication using phone "
        "call verification",
        "impact": "Some users may be unable to complete multifactor authentication (MFA) "
        "using phone call verification.",
        "root_cause": "The reported failures came from a telephony configuration in the "
        "affected organizations; the service operated as designed.",
        "steps": [
            (
                -5 * 1440,
                "investigating",
                "regular",
                "We're investigating reports of phone call verification failures.",
            ),
            (
                -5 * 1440 + 70,
                "falsePositive",
                "regular",
                "Our investigation found that the service is healthy and operating as designed.",
            ),
        ],
    },
    {
        "id": "DZ775309",
        "service": "Microsoft365Defender",
        "share": 0.6,
        "feature": "Alerts",
        "feature_group": "Microsoft Defender XDR",
        "title": "Admins may see delays in alert generation in the Microsoft Defender portal",
        "impact": "Admins may see alerts in the Microsoft Defender portal up to two hours after "
        "the activity that triggered them.",
        "scope": "Alerts generated from endpoint telemetry may be delayed.",
        "steps": [
            (-200, "investigating", "quick", "We're investigating delays in alert generation."),
            (
                -170,
                "serviceDegradation",
                "regular",
                "We've identified a backlog in the "
                "pipeline that processes endpoint telemetry and are adding capacity.",
            ),
            (
                -60,
                "extendedRecovery",
                "regular",
                "The added capacity is processing the "
                "backlog; we expect alert latency to return to normal over the next few hours.",
            ),
        ],
    },
    {
        "id": "PP412890",
        "service": "PowerPlatform",
        "share": 0.5,
        "feature": "Power Automate",
        "feature_group": "Power Platform",
        "title": "Users may be unable to run some Power Automate flows that use the Office 365 "
        "Outlook connector",
        "impact": "Users may see some flows that use the Office 365 Outlook connector fail "
        "with a timeout error.",
        "scope": "Flows that use the Office 365 Outlook connector may be affected.",
        "steps": [
            (3, "investigating", "quick", "We're investigating reports of flow failures."),
            (
                9,
                "serviceDegradation",
                "regular",
                "We've identified that requests from the "
                "connector to Exchange Online are being throttled and are adjusting the limits.",
            ),
        ],
    },
    {
        "id": "CR667120",
        "service": "DynamicsCRM",
        "share": 0.6,
        "feature": "Dynamics 365 Sales",
        "feature_group": "Dynamics 365 Apps",
        "title": "Users may be unable to open some records in Dynamics 365 Sales",
        "impact": "Users may receive an error when opening some opportunity records in "
        "Dynamics 365 Sales.",
        "steps": [
            (
                -300,
                "investigating",
                "regular",
                "We're investigating reports of errors when opening opportunity records.",
            ),
            (
                -240,
                "investigationSuspended",
                "regular",
                "We haven't been able to reproduce the "
                "issue. If your users are affected, please open a service request with the "
                "record ids and the time of the error so we can continue investigating.",
            ),
        ],
    },
    {
        "id": "MO226784",
        "service": "OSDPPlatform",
        "share": 0.3,
        "origin": "thirdParty",
        "feature": "Networking Issues",
        "feature_group": "Networking",
        "title": "Users in South Africa may have experienced latency when accessing Microsoft "
        "365 services",
        "impact": "Users in South Africa may have experienced latency or timeouts when "
        "accessing multiple Microsoft 365 services.",
        "scope": "Users whose traffic is routed through the affected third-party network "
        "provider were impacted.",
        "root_cause": "A third-party network provider experienced a fiber cut that reduced "
        "capacity on routes to Microsoft's network.",
        "steps": [
            (
                -1500,
                "investigating",
                "quick",
                "We're investigating reports of latency for users in South Africa.",
            ),
            (
                -1470,
                "serviceDegradation",
                "regular",
                "We've determined that a third-party "
                "network provider is experiencing an outage and we're rerouting traffic.",
            ),
            (
                -1380,
                "serviceRestored",
                "regular",
                "The network provider restored capacity and "
                "we've confirmed that latency has returned to normal.",
            ),
        ],
    },
    {
        "id": "EX976655",
        "service": "Exchange",
        "share": 0.5,
        "classification": "advisory",
        "feature": "E-Mail timely delivery",
        "feature_group": "E-Mail timely delivery",
        "title": "Some users may have noticed delays receiving email messages from external "
        "senders",
        "impact": "Some users may have noticed delays of up to 30 minutes receiving email "
        "messages from external senders.",
        "root_cause": "A portion of infrastructure that processes inbound mail was "
        "performing below expected thresholds.",
        "steps": [
            (
                -720,
                "serviceDegradation",
                "regular",
                "We're rebalancing inbound mail traffic to "
                "alternate infrastructure to reduce delivery delays.",
            ),
            (
                -660,
                "serviceRestored",
                "regular",
                "We've confirmed that inbound mail is being delivered without delay.",
            ),
        ],
    },
    {
        "id": "TM299871",
        "service": "microsoftteams",
        "share": 0.8,
        "classification": "advisory",
        "feature": "Teams Components",
        "feature_group": "Reporting",
        "title": "Admins may see Microsoft Teams usage reports that are up to 72 hours old",
        "impact": "Admins may see Microsoft Teams usage reports in the Microsoft 365 admin "
        "center that don't include the most recent 72 hours of activity.",
        "steps": [
            (
                -2000,
                "serviceOperational",
                "regular",
                "Usage data is being processed with a "
                "delay; no user activity is affected and reports will catch up automatically. "
                'More information: <a href="https://learn.microsoft.com/microsoft-365/admin/'
                'activity-reports/microsoft-teams-usage-activity">Microsoft Teams usage '
                "activity reports</a>.",
            ),
        ],
    },
    {
        "id": "MO228118",
        "service": "OSDPPlatform",
        "share": 0.4,
        "classification": "advisory",
        "feature": "Portal",
        "feature_group": "Microsoft 365 admin center",
        "title": "Admins may have been unable to view service health in the Microsoft 365 admin "
        "center",
        "impact": "Admins may have been unable to load the Service health page in the "
        "Microsoft 365 admin center.",
        "root_cause": "A recent update to the page introduced a code issue.",
        "steps": [
            (
                -4 * 1440,
                "serviceDegradation",
                "regular",
                "We're rolling back a recent update to the Service health page.",
            ),
            (
                -4 * 1440 + 45,
                "serviceRestored",
                "regular",
                "The rollback has completed and the page loads as expected.",
            ),
            (
                -2 * 1440,
                "postIncidentReviewPublished",
                "strategic",
                "A post-incident report has been published.",
            ),
        ],
    },
]


def _demo_steps(spec, t0):
    steps, start = [], t0 + timedelta(minutes=spec["steps"][0][0])
    for index, (minutes, status, post_type, text) in enumerate(spec["steps"]):
        at = t0 + timedelta(minutes=minutes)
        following = spec["steps"][index + 1][0] if index + 1 < len(spec["steps"]) else None
        if status in RESOLVED_STATUSES and status != "postIncidentReviewPublished":
            content = _post(
                spec["title"],
                spec["impact"],
                text,
                scope=spec.get("scope"),
                final=(start, at, spec.get("root_cause", "We're still reviewing the cause.")),
            )
        elif status == "postIncidentReviewPublished":
            content = text
        else:
            next_update = at + timedelta(minutes=following - minutes if following else 60)
            content = _post(
                spec["title"],
                spec["impact"],
                text,
                scope=spec.get("scope"),
                next_update=next_update,
            )
        steps.append(IssueStep(at=at, status=status, content=content, post_type=post_type))
    return steps


def demo(
    tenant_ids,
    *,
    seed=20261127,
    secret="demo-graph-secret",  # noqa: S107 - the simulator's own demo credential
    client_id="partner-portal-demo",
):
    """A realistic scenario for ``tenant_ids``: the first is the partner's own tenant and has
    every service; the others have the core Microsoft 365 services and some of the rest. All
    accept ``client_id``/``secret`` (one multi-tenant app registration, consented everywhere).

    Thirteen issues: one Exchange Online incident every tenant sees, some resolved days ago (one
    with a post-incident review, one false positive), some progressing over the next minutes
    (Exchange restored at +6 min, Teams at +12, Intune at +15), one appearing at +3 min (Power
    Platform), some still open, and advisories."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible scenario, not cryptography
    simulator = ServiceHealthSimulator()
    t0 = simulator.now()
    tenant_ids = [str(t) for t in tenant_ids]
    optional = [sid for sid in SERVICES if sid not in CORE_SERVICES]
    for index, tenant_id in enumerate(tenant_ids):
        if index == 0:
            services = list(SERVICES)
        else:
            extra = {sid for sid in optional if rng.random() < 0.6}
            services = [sid for sid in SERVICES if sid in CORE_SERVICES or sid in extra]
        simulator.add_tenant(
            tenant_id,
            client_id=client_id,
            client_secret=secret,
            services=services,
            display_name="Partner" if index == 0 else f"Customer {index}",
        )
    for spec in _DEMO_ISSUES:
        having = [t for t in tenant_ids if spec["service"] in simulator.tenants[t].services]
        if spec["share"] >= 1.0:
            chosen = having
        else:
            chosen = [t for t in having if rng.random() < spec["share"]] or having[:1]
        simulator.add_issue(
            spec["id"],
            service_id=spec["service"],
            title=spec["title"],
            impact_description=spec["impact"],
            classification=spec.get("classification", "incident"),
            origin=spec.get("origin", "microsoft"),
            feature=spec["feature"],
            feature_group=spec["feature_group"],
            high_impact=spec.get("high_impact", False),
            details=[{"name": "NotifyInApp", "value": "True"}] if spec.get("high_impact") else [],
            steps=_demo_steps(spec, t0),
            tenant_ids=chosen,
        )
    return simulator


_BULK_TITLES = {
    "Exchange": "Users may experience delays sending or receiving email ({n})",
    "microsoftteams": "Users may be unable to load chats in Microsoft Teams ({n})",
    "SharePoint": "Users may be unable to open some SharePoint Online pages ({n})",
    "OneDriveForBusiness": "Users may be unable to share files from OneDrive ({n})",
    "OrgLiveID": "Some users may experience sign-in delays ({n})",
    "Intune": "Admins may be unable to deploy some app protection policies ({n})",
    "OSDPPlatform": "Users may experience latency across Microsoft 365 services ({n})",
    "PowerPlatform": "Some Power Apps may load slowly ({n})",
    "DynamicsCRM": "Users may see errors saving records in Dynamics 365 ({n})",
    "Microsoft365Defender": "Admins may see delays in the Microsoft Defender portal ({n})",
}
_BULK_PROGRESS = (
    "investigating",
    "serviceDegradation",
    "restoringService",
    "extendedRecovery",
    "verifyingService",
)


def bulk(
    tenant_count,
    incidents_per_tenant,
    posts_per_incident,
    *,
    pool_size=None,
    secret="demo-graph-secret",  # noqa: S107 - the simulator's own demo credential
    client_id="partner-portal-demo",
    base=None,
):
    """A large deterministic scenario for benchmarks: ``tenant_count`` tenants (ids
    ``00000001-0000-4000-8000-000000000001`` ...), each affected by ``incidents_per_tenant``
    issues of ``posts_per_incident`` posts. Issues come from a shared pool (default twice the
    issues per tenant) and each tenant sees a window of it, so most issues affect many tenants.
    Every step lies in the past of ``base`` (default now): the scenario is static."""
    pool_size = max(pool_size or 2 * incidents_per_tenant, incidents_per_tenant)
    simulator = ServiceHealthSimulator()
    base = _to_ms(base or simulator.now())
    service_ids = list(SERVICES)
    for n in range(1, tenant_count + 1):
        tenant_id = f"{n:08x}-0000-4000-8000-{n:012x}"
        simulator.tenants[tenant_id] = SimulatedTenant(
            tenant_id=tenant_id,
            client_id=client_id,
            client_secret=secret,
            display_name=f"Customer {n}",
            services=list(service_ids),
        )
    for k in range(pool_size):
        service_id = service_ids[k % len(service_ids)]
        name, prefix = SERVICES[service_id]
        issue_id = f"{prefix}{100000 + k}"
        title = _BULK_TITLES[service_id].format(n=k)
        impact = f"Users of {name} may be affected by issue {issue_id}."
        advisory = k % 7 == 3
        resolved = k % 5 < 3
        started = base - timedelta(hours=1 + k % 96, minutes=k % 60)
        steps = []
        for p in range(posts_per_incident):
            last = p == posts_per_incident - 1
            status = (
                "serviceRestored" if last and resolved else _BULK_PROGRESS[p % len(_BULK_PROGRESS)]
            )
            at = started + timedelta(minutes=20 * p)
            steps.append(
                IssueStep(
                    at=at,
                    status=status,
                    content=f"Title: {title}\n\nUser impact: {impact}\n\nCurrent status: "
                    f"Update {p + 1} of {posts_per_incident}: {status}.",
                    post_type="quick" if p == 0 else "regular",
                )
            )
        issue = SimulatedIssue(
            id=issue_id,
            service_id=service_id,
            title=title,
            impact_description=impact,
            classification="advisory" if advisory else "incident",
            feature=name,
            feature_group=name,
            high_impact=k % 11 == 0,
            steps=steps,
        )
        simulator.issues[issue_id] = issue
    pool = list(simulator.issues.values())
    stride = max(1, incidents_per_tenant // 2)
    for index, tenant in enumerate(simulator.tenants.values()):
        start = (index * stride) % pool_size
        for j in range(incidents_per_tenant):
            issue = pool[(start + j) % pool_size]
            tenant.issue_ids.add(issue.id)
            issue.tenant_ids.add(tenant.tenant_id)
    return simulator
