"""The simulator served over HTTP: the token endpoint, the service communications routes, and
the faults tests script."""

import json
import re
import time
import uuid
from http import HTTPStatus
from urllib.parse import parse_qs, quote, urlencode

from simulators.scripting import FaultScript
from simulators.service_health.access import ANNOUNCEMENT, TenantAccess
from simulators.service_health.catalogue import IssueCatalogue
from simulators.service_health.errors import HttpError, fault_body, graph_error
from simulators.service_health.messages import MessageBoard
from simulators.service_health.model import Fault
from simulators.service_health.odata import (
    COMPARE,
    DATE_FIELDS,
    ISSUE_FIELDS,
    decode_skiptoken,
    encode_skiptoken,
    parse_filter,
)

GRAPH_METADATA = "https://graph.microsoft.com/v1.0/$metadata"
TOKEN_PATH = re.compile(r"^/([^/]+)/oauth2/v2\.0/token$")
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
CONTENT_TYPE = (
    "application/json;odata.metadata=minimal;odata.streaming=true;"
    "IEEE754Compatible=false;charset=utf-8"
)
DEFAULT_PAGE_SIZE = 100  # Microsoft: "default page size is 100"
MAX_PAGE_SIZE = 1000  # Microsoft: "cannot be greater than 1000"


class ServiceHealthSimulator(FaultScript, TenantAccess, MessageBoard, IssueCatalogue):
    """A WSGI app serving Graph service communications for every tenant in ``tenants``."""

    fault_class = Fault
    # Graph keeps connections alive: served over HTTP/1.1 (simulators.http), so a poll's
    # requests reuse one connection as they do against Microsoft.
    keep_alive = True

    def __init__(
        self,
        *,
        page_size=DEFAULT_PAGE_SIZE,
        seven_digit_times=False,
        entra=None,
        other_graph=None,
        latency=0.0,
        sleep=time.sleep,
    ):
        super().__init__(seven_digit_times=seven_digit_times)
        # Seconds every answer waits before it is made, as Graph's do over the Internet; the
        # wait holds no lock, so concurrent requests wait side by side.
        self.latency = latency
        self.latency_sleep = sleep
        # Another Graph simulator (WSGI app) answering every path outside the service
        # announcement, so one host serves all of Graph as Microsoft's does (``make run``).
        self.other_graph = other_graph
        self.page_size = page_size
        # An EntraSimulator whose access tokens (the partner's, redeemed in a customer tenant)
        # are accepted beside this simulator's own client-credentials tokens.
        self.entra = entra
        # Tenants whose tokens Graph refuses: tenant id -> [(path prefix, code, message)].
        self.refusals = {}
        self.faults = []  # Fault, consumed in order (with their path prefix)
        self.requests = []  # (method, path, query, headers)
        self._tokens = {}  # token -> (tenant id, expires at on the scenario clock)
        self._token_tenants = {}  # every token ever issued -> tenant id (for the request log)
        # Where the simulator is served, for the absolute @odata.nextLink; set once serving.
        self._base_url = "http://127.0.0.1"

    @property
    def base_url(self):
        return self._base_url

    @base_url.setter
    def base_url(self, url):
        # The other Graph simulator is served here too: its links must point here.
        self._base_url = url
        if self.other_graph is not None:
            self.other_graph.base_url = url

    # --- scripting --------------------------------------------------------------------------
    def requests_by_tenant(self, tenant_id):
        """The logged requests made as ``tenant_id`` (token requests and Graph calls)."""
        tenant_id = str(tenant_id)
        with self.lock:
            logged = list(self.requests)
        return [r for r in logged if self._request_tenant(r[0], r[1], r[3]) == tenant_id]

    # --- WSGI -------------------------------------------------------------------------------
    def __call__(self, environ, start_response):
        if self.latency:
            self.latency_sleep(self.latency)
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "")
        if self.other_graph is not None and not path.startswith(ANNOUNCEMENT + "/"):
            return self.other_graph(environ, start_response)
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
        fault = self._take_fault(path, tenant_id=self._request_tenant(method, path, headers))
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.body is not None or (fault.status != 200 and fault.truncate_to is None):
                body = fault.body
                if body is None:
                    body = fault_body(fault.status, request_id, client_request_id)
                return self._respond(
                    start_response, fault.status, body, {**reply_headers, **fault.headers}
                )
        try:
            status, payload, extra = self._route(environ, method, path, query, headers)
        except HttpError as error:
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

    def _request_tenant(self, method, path, headers):
        """Whose request this is: the tenant in a token request's path, else the token's."""
        match = TOKEN_PATH.match(path)
        if method == "POST" and match:
            return match.group(1)
        auth = headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        with self.lock:
            tenant_id = self._token_tenants.get(token)
        if tenant_id is None and token and self.entra is not None:
            tenant_id = (self.entra.token_info(token) or (None, ""))[0]
        return tenant_id

    # --- routes -----------------------------------------------------------------------------
    def _route(self, environ, method, path, query, headers):
        match = TOKEN_PATH.match(path)
        if match:
            if method != "POST":
                raise HttpError(405, {"error": "invalid_request"})
            return self._token(environ, match.group(1))
        if not path.startswith(ANNOUNCEMENT + "/"):
            raise graph_error(
                400, "BadRequest", f"Resource not found for the segment '{path.strip('/')}'."
            )
        if method != "GET":
            raise graph_error(405, "BadRequest", f"The HTTP method '{method}' is not allowed.")
        tenant = self._authorise(headers)
        self._refuse_if_scripted(tenant, path)
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
            raise graph_error(400, "BadRequest", "Resource not found for the segment ''.")
        with self.lock:
            visible = self._visible(tenant, at)
            if parts[0] == "healthOverviews":
                return self._health(tenant, visible, parts[1:], query, headers, path)
            if parts[0] == "messages":
                return self._messages_route(tenant, parts[1:], query, headers, path)
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
        raise graph_error(400, "BadRequest", f"Resource not found for the segment '{parts[-1]}'.")

    def _health(self, tenant, visible, rest, query, headers, path):
        expand = query.get("$expand", [""])[0].strip()
        if expand not in ("", "issues"):
            raise graph_error(
                400,
                "BadRequest",
                f"Could not find a property named '{expand}' on type "
                "'microsoft.graph.serviceHealth'.",
            )

        statuses = self._overview_statuses(visible)

        def overview(service_id, with_issues):
            item = {
                "service": self.services[service_id],
                "status": statuses.get(service_id, "serviceOperational"),
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
            raise graph_error(404, "NotFound", f"Service '{key}' was not found for the tenant.")
        if len(rest) == 1:
            return (
                200,
                {"@odata.context": base + "/$entity", **overview(service_id, bool(expand))},
                {},
            )
        if len(rest) == 2 and rest[1] == "issues":
            mine = [(i, s) for i, s in visible if i.service_id == service_id]
            return self._collection(mine, query, headers, path, f"{base}('{service_id}')/issues")
        raise graph_error(400, "BadRequest", f"Resource not found for the segment '{rest[-1]}'.")

    def _select(self, query):
        raw = query.get("$select", [""])[0].strip()
        if not raw:
            return None
        names = [n.strip() for n in raw.split(",") if n.strip()]
        unknown = [n for n in names if n not in ISSUE_FIELDS]
        if unknown:
            raise graph_error(
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
        raise graph_error(
            404, "NotFound", f"The service health issue '{issue_id}' was not found for the tenant."
        )

    def _page_size(self, query, headers):
        extra = {}
        if "$top" in query:
            raw = query["$top"][0]
            if not raw.isdigit() or int(raw) < 1:
                raise graph_error(
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
            clauses = parse_filter(raw_filter)
            visible = [(i, s) for i, s in visible if self._matches(i, s, clauses)]
        total = len(visible)
        if "$skip" in query:
            raw = query["$skip"][0]
            if not raw.isdigit():
                raise graph_error(
                    400, "BadRequest", f"Invalid value '{raw}' for $skip query option found."
                )
            visible = visible[int(raw) :]
        if "$skiptoken" in query:
            after = decode_skiptoken(query["$skiptoken"][0])
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
            kept["$skiptoken"] = encode_skiptoken(page[-1][0].id)
            payload["@odata.nextLink"] = (
                f"{self.base_url}{quote(path)}?{urlencode(kept, quote_via=quote, safe=':,$')}"
            )
        payload["value"] = [self._shape(self._issue_json(i, s), fields) for i, s in page]
        return 200, payload, extra

    def _matches(self, issue, state, clauses):
        for name, operator, value in clauses:
            if name in DATE_FIELDS:
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
            if not COMPARE[operator](actual, value):
                return False
        return True
