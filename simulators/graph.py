"""Microsoft Graph simulator: the OAuth2 token endpoint and the GDAP relationship APIs.

Routes (``{tenant}`` is the tenant id):
  POST /{tenant}/oauth2/v2.0/token                                      client credentials
  GET  /v1.0/tenantRelationships/delegatedAdminRelationships              paged collection
  GET  /v1.0/tenantRelationships/delegatedAdminRelationships/{id}/accessAssignments

Shapes follow Microsoft's documentation of ``delegatedAdminRelationship`` and
``delegatedAdminAccessAssignment``. Tests script faults with ``fail_next`` (status, headers,
raw body: throttling with Retry-After, 5xx, truncated or HTML bodies, slow answers) and read
``requests`` to assert on what the portal sent.
"""

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

from simulators.scripting import FaultScript

GRAPH_CONTEXT = (
    "https://graph.microsoft.com/v1.0/$metadata#tenantRelationships/delegatedAdminRelationships"
)


def graph_time(value):
    """Graph's timestamp format: seven fractional digits and Z."""
    if value is None:
        return None
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond:06d}0Z"


@dataclass
class PartnerTenant:
    tenant_id: str
    client_id: str
    client_secret: str
    relationships: list = field(default_factory=list)  # Graph-shaped dicts
    assignments: dict = field(default_factory=dict)  # relationship id -> [assignment dicts]
    # relationship id -> (seconds after start, new status): lifecycle moves over time.
    progressions: dict = field(default_factory=dict)


class GraphSimulator(FaultScript):
    def __init__(self, partner, *, page_size=50, started=None):
        self.partner = partner
        self.page_size = page_size
        self.started = started or time.monotonic()
        self.tokens = {}
        self.faults = []  # (path prefix, Fault), consumed in order
        self.requests = []  # (method, path, query, headers)
        self.lock = threading.Lock()
        # Where the simulator is served, for the absolute @odata.nextLink; set once serving.
        self.base_url = "http://127.0.0.1"

    # --- scripting -------------------------------------------------------------------------
    def revoke_tokens(self):
        with self.lock:
            self.tokens.clear()

    # --- WSGI ------------------------------------------------------------------------------
    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        query = parse_qs(environ.get("QUERY_STRING", ""))
        headers = {
            key[5:].replace("_", "-").title(): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        with self.lock:
            self.requests.append((environ["REQUEST_METHOD"], path, query, headers))
        fault = self._take_fault(path)
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.body is not None or fault.status != 200:
                body = fault.body if fault.body is not None else self._error_body(fault.status)
                return self._respond(start_response, fault.status, body, fault.headers)
        try:
            status, payload = self._route(environ, path, query, headers)
        except _HttpError as error:
            status, payload = error.status, error.payload
        return self._respond(start_response, status, json.dumps(payload).encode())

    def _respond(self, start_response, status, body, headers=None):
        reason = {
            200: "OK",
            400: "Bad Request",
            401: "Unauthorized",
            403: "Forbidden",
            404: "Not Found",
            429: "Too Many Requests",
            500: "Internal Server Error",
            502: "Bad Gateway",
            503: "Service Unavailable",
        }.get(status, "Status")
        content_type = (headers or {}).pop(
            "Content-Type", "application/json; odata.metadata=minimal"
        )
        start_response(
            f"{status} {reason}",
            [
                ("Content-Type", content_type),
                ("Content-Length", str(len(body))),
                *((k, v) for k, v in (headers or {}).items()),
            ],
        )
        return [body]

    @staticmethod
    def _error_body(status):
        codes = {
            401: "InvalidAuthenticationToken",
            403: "Authorization_RequestDenied",
            429: "TooManyRequests",
            503: "ServiceNotAvailable",
        }
        return json.dumps(
            {
                "error": {
                    "code": codes.get(status, "InternalServerError"),
                    "message": f"Simulated {status}.",
                    "innerError": {
                        "date": graph_time(datetime.now(UTC)),
                        "request-id": str(uuid.uuid4()),
                    },
                }
            }
        ).encode()

    # --- routes ----------------------------------------------------------------------------
    def _route(self, environ, path, query, headers):
        partner = self.partner
        if (
            environ["REQUEST_METHOD"] == "POST"
            and path == f"/{partner.tenant_id}/oauth2/v2.0/token"
        ):
            return self._token(environ)
        prefix = "/v1.0/tenantRelationships/delegatedAdminRelationships"
        if environ["REQUEST_METHOD"] != "GET" or not path.startswith(prefix):
            raise _HttpError(404, {"error": {"code": "ResourceNotFound", "message": "Not found."}})
        self._authorise(headers)
        rest = path[len(prefix) :].strip("/")
        relationships = self._current_relationships()
        if not rest:
            return self._page(relationships, query, path)
        relationship_id, _slash, tail = rest.partition("/")
        if tail == "accessAssignments":
            if relationship_id not in {r["id"] for r in relationships}:
                raise _HttpError(
                    404, {"error": {"code": "ResourceNotFound", "message": "No such relationship."}}
                )
            items = self.partner.assignments.get(relationship_id, [])
            return 200, {
                "@odata.context": f"{GRAPH_CONTEXT}('{relationship_id}')/accessAssignments",
                "value": items,
            }
        raise _HttpError(404, {"error": {"code": "ResourceNotFound", "message": "Not found."}})

    def _token(self, environ):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        form = parse_qs(environ["wsgi.input"].read(length).decode())
        given = {key: values[0] for key, values in form.items()}
        if (
            given.get("client_id") != self.partner.client_id
            or given.get("client_secret") != self.partner.client_secret
            or given.get("grant_type") != "client_credentials"
        ):
            raise _HttpError(
                401,
                {
                    "error": "invalid_client",
                    "error_description": "AADSTS7000215: Invalid client secret provided.",
                },
            )
        token = f"sim-{uuid.uuid4().hex}"
        with self.lock:
            self.tokens[token] = time.monotonic() + 3599
        return 200, {
            "token_type": "Bearer",
            "expires_in": 3599,
            "ext_expires_in": 3599,
            "access_token": token,
        }

    def _authorise(self, headers):
        auth = headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        with self.lock:
            valid = self.tokens.get(token, 0) > time.monotonic()
        if not valid:
            raise _HttpError(
                401,
                {
                    "error": {
                        "code": "InvalidAuthenticationToken",
                        "message": "Access token is empty or invalid.",
                    }
                },
            )

    def _current_relationships(self):
        """The relationships as they are now: scheduled lifecycle steps applied."""
        elapsed = time.monotonic() - self.started
        now = datetime.now(UTC)
        result = []
        for relationship in self.partner.relationships:
            step = self.partner.progressions.get(relationship["id"])
            if step and elapsed >= step[0] and relationship["status"] != step[1]:
                relationship = {
                    **relationship,
                    "status": step[1],
                    "lastModifiedDateTime": graph_time(now),
                }
                if step[1] == "active" and not relationship.get("activatedDateTime"):
                    relationship["activatedDateTime"] = graph_time(now)
                    relationship["endDateTime"] = graph_time(now + timedelta(days=730))
            result.append(relationship)
        return result

    def _page(self, items, query, path):
        skip = int(query.get("$skiptoken", ["0"])[0] or 0)
        top = min(int(query.get("$top", [self.page_size])[0]), 300)
        page = items[skip : skip + top]
        payload = {"@odata.context": GRAPH_CONTEXT, "value": page}
        if skip + top < len(items):
            payload["@odata.nextLink"] = f"{self.base_url}{path}?$top={top}&$skiptoken={skip + top}"
        return 200, payload


class _HttpError(Exception):
    def __init__(self, status, payload):
        super().__init__(status)
        self.status = status
        self.payload = payload


def relationship_json(
    *,
    relationship_id,
    display_name,
    customer_name,
    customer_tenant_id,
    status,
    roles,
    duration="P730D",
    auto_extend="PT0S",
    created=None,
    activated=None,
    ends=None,
    modified=None,
):
    """A ``delegatedAdminRelationship`` as Graph returns it."""
    return {
        "@odata.type": "#microsoft.graph.delegatedAdminRelationship",
        "id": relationship_id,
        "displayName": display_name,
        "duration": duration,
        "status": status,
        "autoExtendDuration": auto_extend,
        "createdDateTime": graph_time(created),
        "activatedDateTime": graph_time(activated),
        "lastModifiedDateTime": graph_time(modified or created),
        "endDateTime": graph_time(ends),
        "customer": {"displayName": customer_name, "tenantId": str(customer_tenant_id)},
        "accessDetails": {"unifiedRoles": [{"roleDefinitionId": role} for role in roles]},
    }


def assignment_json(
    *, assignment_id, group_id, roles, status="active", created=None, modified=None
):
    """A ``delegatedAdminAccessAssignment`` as Graph returns it."""
    return {
        "@odata.type": "#microsoft.graph.delegatedAdminAccessAssignment",
        "id": assignment_id,
        "status": status,
        "createdDateTime": graph_time(created),
        "lastModifiedDateTime": graph_time(modified or created),
        "accessContainer": {
            "accessContainerId": str(group_id),
            "accessContainerType": "securityGroup",
        },
        "accessDetails": {"unifiedRoles": [{"roleDefinitionId": role} for role in roles]},
    }
