"""Microsoft Graph simulator: the OAuth2 token endpoint, the GDAP APIs and a tenant's root site.

Routes (``{tenant}`` is the tenant id):
  POST /{tenant}/oauth2/v2.0/token                                      client credentials
  GET  /v1.0/tenantRelationships/delegatedAdminRelationships              paged collection
  GET  /v1.0/tenantRelationships/delegatedAdminRelationships/{id}/accessAssignments
  GET  /v1.0/tenantRelationships/delegatedAdminCustomers                  paged collection
  GET  /v1.0/tenantRelationships/delegatedAdminCustomers/{id}/serviceManagementDetails
  GET  /v1.0/sites/root                        the SharePoint root site of the token's tenant

Shapes follow Microsoft's documentation of ``delegatedAdminRelationship``,
``delegatedAdminAccessAssignment``, ``delegatedAdminCustomer``,
``delegatedAdminServiceManagementDetail`` and ``site`` (``docs/reference/graph-gdap/``). Tokens
are the simulator's own client-credential tokens for the partner tenant or, with ``entra`` (an
Entra ID simulator in the same process), any token it minted: for the partner tenant, or for a
customer tenant (``sites/root`` answers for the tenant the token is for). Tests script faults
with ``fail_next`` (status, headers, raw body: throttling with Retry-After, 5xx, truncated or
HTML bodies, slow answers) and read ``requests`` to assert on what the portal sent.
"""

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

from simulators.entra_oidc import USER_ROUTE
from simulators.scripting import FaultScript

GRAPH_CONTEXT = (
    "https://graph.microsoft.com/v1.0/$metadata#tenantRelationships/delegatedAdminRelationships"
)
CUSTOMERS_PREFIX = "/v1.0/tenantRelationships/delegatedAdminCustomers"
CUSTOMERS_CONTEXT = (
    "https://graph.microsoft.com/v1.0/tenantRelationships/$metadata#delegatedAdminCustomers"
)
_NOT_FOUND = {"error": {"code": "ResourceNotFound", "message": "Not found."}}


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
    customers: list = field(default_factory=list)  # delegatedAdminCustomer dicts
    # customer tenant id -> [delegatedAdminServiceManagementDetail dicts]
    service_management: dict = field(default_factory=dict)
    # customer tenant id -> its SharePoint host, e.g. contoso.sharepoint.com (sites/root)
    sharepoint_hosts: dict = field(default_factory=dict)


class GraphSimulator(FaultScript):
    def __init__(self, partner, *, page_size=50, started=None, entra=None):
        self.partner = partner
        self.entra = entra
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
        if environ["REQUEST_METHOD"] != "GET":
            raise _HttpError(404, _NOT_FOUND)
        tenant = self._authorise(headers)
        if path.rstrip("/") == "/v1.0/sites/root":
            return self._root_site(tenant)
        if tenant != partner.tenant_id:
            raise _HttpError(
                403,
                {"error": {"code": "Authorization_RequestDenied", "message": "Partner only."}},
            )
        if path.startswith(CUSTOMERS_PREFIX):
            return self._customers(path, query)
        person = USER_ROUTE.match(path)
        if person and self.entra is not None:
            # The partner tenant's people are the Entra simulator's (the leaver check reads them).
            found = self.entra.oidc.directory_user(person.group(1))
            if found is None:
                raise _HttpError(
                    404, {"error": {"code": "Request_ResourceNotFound", "message": "No such user."}}
                )
            return 200, found
        prefix = "/v1.0/tenantRelationships/delegatedAdminRelationships"
        if not path.startswith(prefix):
            raise _HttpError(404, _NOT_FOUND)
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
        """The tenant the bearer token is for; 401 for a token nobody issued or that expired."""
        auth = headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        with self.lock:
            valid = self.tokens.get(token, 0) > time.monotonic()
        if valid:
            return self.partner.tenant_id
        minted = self.entra.token_info(token) if self.entra is not None and token else None
        if minted is not None:
            return str(minted[0])
        raise _HttpError(
            401,
            {
                "error": {
                    "code": "InvalidAuthenticationToken",
                    "message": "Access token is empty or invalid.",
                }
            },
        )

    def _customers(self, path, query):
        rest = path[len(CUSTOMERS_PREFIX) :].strip("/")
        if not rest:
            return self._page(self.partner.customers, query, path, CUSTOMERS_CONTEXT)
        tenant_id, _slash, tail = rest.partition("/")
        known = {c["id"] for c in self.partner.customers}
        if tail != "serviceManagementDetails" or tenant_id not in known:
            raise _HttpError(404, _NOT_FOUND)
        return 200, {
            "@odata.context": f"{CUSTOMERS_CONTEXT}/{tenant_id}/serviceManagementDetails",
            "value": self.partner.service_management.get(tenant_id, []),
        }

    def _root_site(self, tenant):
        host = self.partner.sharepoint_hosts.get(tenant)
        if host is None:
            raise _HttpError(
                404, {"error": {"code": "itemNotFound", "message": "Requested site not found."}}
            )
        now = graph_time(datetime.now(UTC))
        return 200, {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#sites/$entity",
            "createdDateTime": now,
            "description": "",
            "id": f"{host},{uuid.uuid5(uuid.NAMESPACE_DNS, host)},{uuid.uuid5(uuid.NAMESPACE_URL, host)}",
            "lastModifiedDateTime": now,
            "name": "",
            "webUrl": f"https://{host}",
            "displayName": "Communication site",
            "root": {},
            "siteCollection": {"hostname": host},
        }

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

    def _page(self, items, query, path, context=GRAPH_CONTEXT):
        skip = int(query.get("$skiptoken", ["0"])[0] or 0)
        top = min(int(query.get("$top", [self.page_size])[0]), 300)
        page = items[skip : skip + top]
        payload = {"@odata.context": context, "value": page}
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


def delegated_admin_customer_json(*, tenant_id, display_name):
    """A ``delegatedAdminCustomer`` as Graph returns it: its id is the tenant id."""
    etag = uuid.uuid5(uuid.NAMESPACE_URL, f"{tenant_id}:{display_name}").hex
    return {
        "@odata.type": "#microsoft.graph.delegatedAdminCustomer",
        "@odata.etag": f'W/"{etag}"',
        "id": str(tenant_id),
        "tenantId": str(tenant_id),
        "displayName": display_name,
    }


def service_management_detail_json(*, service_name, url):
    """A ``delegatedAdminServiceManagementDetail``: one admin portal Microsoft links to."""
    return {
        "@odata.type": "#microsoft.graph.delegatedAdminServiceManagementDetail",
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, url)),
        "serviceManagementUrl": url,
        "serviceName": service_name,
    }
