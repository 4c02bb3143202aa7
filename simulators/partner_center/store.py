"""The service requests the simulator holds: created, moved on by their schedules and by
Microsoft Support, and shown as Partner Center's JSON."""

import random
import threading
from collections import Counter
from datetime import timedelta

from simulators.partner_center.model import (
    DEFAULT_ORGANIZATION,
    DEFAULT_PRIMARY_CONTACT,
    DEFAULT_SCHEDULE,
    DEFAULT_TOKEN,
    MICROSOFT_SUPPORT,
    SEVERITY_NUMBERS,
    STATUS_NUMBERS,
    STATUSES,
    SUPPORT_TOPICS,
    TOPICS,
    ContinuationPages,
    Note,
    SimulatedServiceRequest,
    pc_time,
    schedule_steps,
)
from simulators.scripting import HeldAnswers, ScenarioClock, to_ms


class ServiceRequestStore(ScenarioClock):
    """The partner's service requests on a scenario clock, as Partner Center shows them, with the
    hooks tests use to move them on. ``PartnerCenterSimulator`` serves it over HTTP."""

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
        entra=None,
        page_size=None,
    ):
        """``token``: the bearer token accepted (None: any non-empty one). ``organization`` /
        ``primary_contact``: what new requests carry (default: the documentation's). ``schedule``:
        the default ScheduleStep list (or ``(after, status[, note])`` tuples) of new requests.
        ``numeric_enums``: list items give severity and status as numbers 0..3, like the
        documentation's customer-list sample. ``seed``: reproducible request ids. ``entra``: an
        EntraSimulator whose Partner Center tokens are accepted too (``token`` stays accepted).
        ``page_size``: lists longer than this are paged with ``links.next`` (None: one page)."""
        self.token = token
        self.entra = entra
        self.page_size = page_size
        # (id, name, description, product id) that GET supporttopics lists; tests change it.
        self.support_topics = list(SUPPORT_TOPICS)
        # Legacy service incidents (``ServiceIncidents`` objects, one per workload) that
        # ``GET /v1/serviceincidents/office`` lists; None: it answers 404, as it may by now.
        self.service_incidents = None
        self.expired_tokens = set()  # tokens answered 401 from now on
        self.seen_tokens = set()
        self._pages = ContinuationPages()
        self.organization = dict(organization or DEFAULT_ORGANIZATION)
        self.primary_contact = (
            dict(primary_contact) if primary_contact is not None else dict(DEFAULT_PRIMARY_CONTACT)
        )
        self.country_code = country_code
        self.schedule = schedule_steps(schedule)
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
        self._held = HeldAnswers()  # answers waiting out a scripted delay
        # Where the simulator is served; set once serving.
        self.base_url = "http://127.0.0.1"

    # --- clock ------------------------------------------------------------------------------
    def _clock_moved(self):
        self._refresh_all()  # scheduled status changes up to the new time happen

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
            created = to_ms(created or self.now())
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
                schedule=schedule_steps(schedule or ()),
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
            steps = schedule_steps(steps)
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

    def expire_access_tokens(self):
        """Every token used so far expires: Partner Center answers 401 to it from now on."""
        with self.lock:
            self.expired_tokens |= self.seen_tokens

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

    def _paged(self, items, path, continuation=None):
        """A page of ``items`` (``ContinuationPages``). Without ``page_size``, every item in the
        documented samples' shape (no ``links``)."""
        if self.page_size is None and not continuation:
            return self._collection(items)
        with self.lock:
            offset = self._pages.offset(path, continuation)
            return self._pages.page(items, path, self.page_size or len(items) or 1, offset)
