"""The simulator served over HTTP: Partner Center's service-request routes, idempotent creates and
updates, and the faults tests script."""

import json
import re
import uuid
from http import HTTPStatus
from urllib.parse import unquote

from simulators.partner_center.customers import CUSTOMER_PATH, PartnerCenterCustomers
from simulators.partner_center.headers import read_body, request_headers
from simulators.partner_center.model import (
    CREATE_SEVERITIES,
    SEVERITIES,
    TOPICS,
    Fault,
    HttpError,
    Note,
    SimulatedServiceRequest,
    camel_case,
    error_body,
)
from simulators.partner_center.store import ServiceRequestStore
from simulators.scripting import FaultScript

CONTENT_TYPE = "application/json; charset=utf-8"
_LOCALE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_PREFIX = "/v1/servicerequests"
_SERVICE_INCIDENTS = "/v1/serviceincidents/office"
_CUSTOMER = re.compile(r"^/v1/customers/([^/]+)/servicerequests/?$")


class PartnerCenterSimulator(FaultScript, PartnerCenterCustomers, ServiceRequestStore):
    """A WSGI app serving Partner Center's service-request API to one partner."""

    fault_class = Fault

    # --- scripting --------------------------------------------------------------------------
    def clear_faults(self):
        with self.lock:
            self.faults.clear()

    def release(self):
        """Wake every answer held back by a ``delay`` now (e.g. before stopping the server)."""
        self._held.release()

    # --- WSGI ---------------------------------------------------------------------------------
    def __call__(self, environ, start_response):
        method = environ["REQUEST_METHOD"].upper()
        path = unquote(environ.get("PATH_INFO", ""))
        headers = request_headers(environ)
        body = read_body(environ)
        reply_headers = {
            "MS-CorrelationId": headers.get("MS-CorrelationId") or str(uuid.uuid4()),
            "MS-RequestId": headers.get("MS-RequestId") or str(uuid.uuid4()),
            "MS-CV": uuid.uuid4().hex[:16] + ".0",
        }
        with self.lock:
            self.requests.append((method, path, headers, body))
        fault = self._take_fault(path, method=method)
        if fault is not None and not fault.after:
            self._held.sleep(fault.delay)
            if fault.body is not None or fault.status != 200:
                return self._fault(start_response, fault, reply_headers)
        try:
            self._authorise(headers)
            status, payload, extra = self._route(method, path, headers, body)
        except HttpError as error:
            status, payload, extra = error.status, error.payload, error.headers
        if fault is not None and fault.after:
            self._held.sleep(fault.delay)
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
            raise HttpError(401, "Authorization header is missing or is not a bearer token.")
        with self.lock:
            self.seen_tokens.add(token)
            expired = token in self.expired_tokens
        minted = self.entra is not None and self.entra.token_info(token) is not None
        static = token == self.token or (self.token is None and self.entra is None)
        if expired or not (minted or static):
            raise HttpError(
                401,
                "Authentication failed: the access token is expired or not valid.",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )

    # --- routes -------------------------------------------------------------------------------
    def _route(self, method, path, headers, body):
        # The partner's customers: simulators/partner_center/customers.py.
        if CUSTOMER_PATH.match(path):
            return self._customer_route(method, path, headers, body)
        if path.rstrip("/") == _SERVICE_INCIDENTS and method == "GET":
            if self.service_incidents is None:
                raise HttpError(404, f"The resource '{path}' was not found.")
            incidents = list(self.service_incidents)
            return 200, self._paged(incidents, path, headers.get("MS-ContinuationToken")), {}
        customer = _CUSTOMER.match(path)
        if customer:
            if method != "GET":
                raise HttpError(405, f"The HTTP method '{method}' is not allowed.")
            return self._list(customer.group(1), path, headers)
        if path != _PREFIX and not path.startswith(_PREFIX + "/"):
            raise HttpError(404, f"The resource '{path}' was not found.")
        rest = path[len(_PREFIX) :].strip("/")
        if not rest:
            if method != "GET":
                raise HttpError(405, f"The HTTP method '{method}' is not allowed.")
            return self._list(None, path, headers)
        if "/" in rest:
            raise HttpError(404, f"The resource '{path}' was not found.")
        if rest.lower() == "supporttopics":
            if method != "GET":
                raise HttpError(405, f"The HTTP method '{method}' is not allowed.")
            return self._topics(path, headers)
        if method == "POST":
            return self._idempotent(method, path, headers, lambda: self._create(rest, body))
        if rest.isdigit():
            if method == "GET":
                with self.lock:
                    return 200, self._detail_json(self._get(rest)), {}
            if method == "PATCH":
                return self._idempotent(method, path, headers, lambda: self._update(rest, body))
            raise HttpError(405, f"The HTTP method '{method}' is not allowed.")
        raise HttpError(404, f"The resource '{path}' was not found.")

    def _get(self, request_id):
        sr = self.service_requests.get(request_id)
        if sr is None:
            raise HttpError(404, f"Service request {request_id} was not found.")
        self._refresh(sr)
        return sr

    def _list(self, customer_tenant_id, path, headers):
        with self.lock:
            self._refresh_all()
            items = [
                self._item_json(sr)
                for sr in self.service_requests.values()
                if customer_tenant_id is None or sr.customer_tenant_id == customer_tenant_id
            ]
        return 200, self._paged(items, path, headers.get("MS-ContinuationToken")), {}

    def _topics(self, path, headers):
        items = [
            {
                "name": name,
                "description": description,
                "id": topic_id,
                "attributes": {"objectType": "SupportTopic"},
            }
            for topic_id, name, description, _product in self.support_topics
        ]
        return 200, self._paged(items, path, headers.get("MS-ContinuationToken")), {}

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
            raise HttpError(400, f"The agent-locale '{locale}' is not a valid locale.")
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
            raise HttpError(400, problems[0], data=problems)
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
                organization=camel_case(data.get("Organization")) or dict(self.organization),
                primary_contact=camel_case(data.get("PrimaryContact"), drop=("Organization",))
                or (dict(self.primary_contact) if self.primary_contact else None),
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
            raise HttpError(
                400, f"Severity {severity!r} is not valid: use one of {', '.join(SEVERITIES)}."
            )
        status = data.get("Status")
        if status is not None and (
            not isinstance(status, str) or status.lower() not in ("none", "open", "closed")
        ):
            raise HttpError(400, f"Status {status!r} is not valid: use none, open or closed.")
        note = data.get("NewNote")
        if note is not None:
            text = note.get("Text") if isinstance(note, dict) else None
            if not isinstance(text, str) or not text.strip():
                raise HttpError(400, "NewNote.Text is required when NewNote is given.")
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
        raise HttpError(400, "The request body must be a JSON object.")
    return data


def _known(status):
    try:
        HTTPStatus(status)
    except ValueError:
        return False
    return True
