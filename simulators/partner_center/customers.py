"""The partner's customers in the Partner Center simulator.

Routes (the server's bearer-token check applies; with an Entra ID simulator set as ``entra``,
the token must also be one it minted and still knows):
  GET /v1/customers                               paged: ``links.next`` + MS-ContinuationToken
  GET /v1/customers/{customer-tenant-id}          one customer, with its company profile
  GET /v1/customers/{customer-tenant-id}/subscriptions
  GET /v1/customers/{customer-tenant-id}/profiles/company
  POST /v1/customers/{customer-tenant-id}/applicationconsents   the partner's app consented in
                                                  the customer tenant (409 when it already is)

Shapes follow the samples of Microsoft's documentation (``docs/reference/partner-center/``):
collections ``{"totalCount", "items", "links", "attributes": {"objectType": "Collection"}}``; a
customer's ``id`` is its tenant id and ``companyProfile.domain`` its initial
``onmicrosoft.com`` domain. A page that has a next one carries ``continuationToken`` and
``links.next`` ``{"uri": "/v1/customers?size=N&seekOperation=Next", "method": "GET",
"headers": [{"key": "MS-ContinuationToken", "value": ...}]}``, as the .NET SDK follows them.

Tests add customers with ``customers.add`` and script a failing page with ``fail_page`` (a
status, headers such as Retry-After, or a raw body such as truncated JSON) or a continuation
that loops back with ``repeat_continuation``; ``fail_next`` of the server answers any route.
"""

import functools
import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from simulators.partner_center.model import ContinuationPages, Fault, HttpError, pc_time

CUSTOMER_PATH = re.compile(
    r"^/v1/customers(?:/([^/]+)(?:/(subscriptions|profiles/company|applicationconsents))?)?/?$"
)
LIST_PATH = "/v1/customers"
DEFAULT_PAGE_SIZE = 40


@dataclass
class SimulatedSubscription:
    offer_name: str
    quantity: int = 1
    status: str = "active"  # active, suspended, deleted, expired, pending, disabled
    product_type: str = "OnlineServicesNCE"  # productType.id: OnlineServicesNCE, Azure, Software
    billing_cycle: str = "monthly"
    term_duration: str = "P1Y"
    commitment_end: datetime | None = None
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    offer_id: str = "CFQ7TTC0LF8Q:0001:CFQ7TTC0LQ4D"
    created: datetime = field(default_factory=lambda: datetime.now(UTC) - timedelta(days=200))


@dataclass
class SimulatedCustomer:
    tenant_id: str
    company_name: str
    domain: str  # the initial onmicrosoft.com domain
    country: str = "US"
    relationship: str = "reseller"
    custom_domains: list = field(default_factory=list)
    email: str = ""
    city: str = ""
    subscriptions: list = field(default_factory=list)


class CustomerDirectory:
    """The partner's customers, in the order Partner Center lists them, and the page faults."""

    def __init__(self, page_size=DEFAULT_PAGE_SIZE):
        self.page_size = page_size
        self.lock = threading.RLock()
        self.customers = {}  # tenant id -> SimulatedCustomer
        self._pages = ContinuationPages()
        self._page_faults = {}  # page number (1 = first) -> Fault
        self._repeat = False
        self.consents = {}  # tenant id -> {application id: the consent as posted}

    # --- test hooks -------------------------------------------------------------------------
    def add(self, tenant_id, company_name, domain, *, subscriptions=(), **more):
        """Add (or replace) a customer; ``subscriptions``: SimulatedSubscription or offer names."""
        subscriptions = [
            s if isinstance(s, SimulatedSubscription) else SimulatedSubscription(str(s))
            for s in subscriptions
        ]
        customer = SimulatedCustomer(
            str(tenant_id), company_name, domain, subscriptions=subscriptions, **more
        )
        with self.lock:
            self.customers[customer.tenant_id] = customer
        return customer

    def remove(self, tenant_id):
        """The customer leaves the partner: Partner Center no longer lists it."""
        with self.lock:
            self.customers.pop(str(tenant_id), None)

    def fail_page(self, page, status, headers=None, body=None):
        """The next request for page ``page`` (1: the first) of the customer list answers
        ``status`` with ``headers`` and ``body`` (raw bytes, str or JSON-able; the documented
        error body when None). Status 200 with a body: a malformed page."""
        with self.lock:
            self._page_faults[page] = Fault(status, dict(headers or {}), body)

    def repeat_continuation(self, repeat=True):
        """From the second page on, ``links.next`` repeats the token that led to it: a loop."""
        with self.lock:
            self._repeat = repeat

    # --- routes -----------------------------------------------------------------------------
    def route(self, method, path, headers, body=None):
        match = CUSTOMER_PATH.match(path)
        tenant_id, tail = match.groups()
        if method != ("POST" if tail == "applicationconsents" else "GET"):
            raise HttpError(405, f"The HTTP method '{method}' is not allowed.")
        if tenant_id is None:
            return self._page(headers.get("MS-ContinuationToken"))
        with self.lock:
            customer = self.customers.get(tenant_id.lower())
        if customer is None:
            raise HttpError(404, f"Customer {tenant_id} was not found.", code=3000)
        if tail == "subscriptions":
            return (
                200,
                _collection(
                    [_subscription_json(customer, s) for s in customer.subscriptions],
                    f"/customers/{customer.tenant_id}/subscriptions",
                ),
                {},
            )
        if tail == "profiles/company":
            return 200, _profile_json(customer, full=True), {}
        if tail == "applicationconsents":
            return self._consent(customer, body)
        return 200, _customer_json(customer, full=True), {}

    def _consent(self, customer, body):
        """Record the app's consent in the customer tenant, as Partner Center grants it."""
        try:
            body = json.loads(body or b"null")
        except ValueError:
            body = None
        if not isinstance(body, dict) or not body.get("applicationId"):
            raise HttpError(400, "The application id is required.", code=2000)
        with self.lock:
            given = self.consents.setdefault(customer.tenant_id, {})
            if body["applicationId"] in given:
                raise HttpError(409, "Permission entry already exists.", code=600041)
            given[body["applicationId"]] = body
        return 201, body, {}

    def _page(self, token):
        with self.lock:
            offset = self._pages.offset(LIST_PATH, token)
            fault = self._page_faults.pop(offset // self.page_size + 1, None)  # 1: the first page
            if fault is not None:
                if fault.body is not None:
                    return fault.status, fault.body, dict(fault.headers)
                raise HttpError(
                    fault.status, f"Simulated {fault.status}.", headers=dict(fault.headers)
                )
            payload = self._pages.page(
                list(self.customers.values()),
                LIST_PATH,
                self.page_size,
                offset,
                item_json=_customer_json,
                loop_token=token if self._repeat else None,
            )
        return 200, payload, {}


class PartnerCenterCustomers:
    """Mixed into the simulator: its ``customers`` (a CustomerDirectory) and their routes."""

    entra = None  # an EntraSimulator whose tokens alone are accepted here, when set

    @functools.cached_property
    def customers(self):
        return CustomerDirectory()

    def _customer_route(self, method, path, headers, body=None):
        if self.entra is not None:
            token = headers.get("Authorization", "").partition(" ")[2].strip()
            if self.entra.token_info(token) is None:
                raise HttpError(
                    401,
                    "Authentication failed: the access token is expired or not valid.",
                    headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
                )
        return self.customers.route(method, path, headers, body)


def _links(uri):
    return {"self": {"uri": uri, "method": "GET", "headers": []}}


def _collection(items, uri):
    return {
        "totalCount": len(items),
        "items": items,
        "links": _links(uri),
        "attributes": {"objectType": "Collection"},
    }


def _profile_json(customer, full=False):
    profile = {
        "tenantId": customer.tenant_id,
        "domain": customer.domain,
        "companyName": customer.company_name,
    }
    if full:
        profile["address"] = {"country": customer.country, "city": customer.city}
        if customer.email:
            profile["email"] = customer.email
        profile["links"] = _links(f"/customers/{customer.tenant_id}/profiles/company")
    profile["attributes"] = {"objectType": "CustomerCompanyProfile"}
    return profile


def _customer_json(customer, full=False):
    payload = {
        "id": customer.tenant_id,
        "companyProfile": _profile_json(customer, full=full),
        "relationshipToPartner": customer.relationship,
    }
    if full:
        payload["allowDelegatedAccess"] = True
        payload["customDomains"] = list(customer.custom_domains)
        payload["links"] = _links(f"/customers/{customer.tenant_id}")
    payload["attributes"] = {"objectType": "Customer"}
    return payload


def _subscription_json(customer, subscription):
    product_id = subscription.offer_id.split(":")[0]
    return {
        "id": subscription.id,
        "offerId": subscription.offer_id,
        "offerName": subscription.offer_name,
        "friendlyName": subscription.offer_name,
        "productType": {"id": subscription.product_type, "displayName": subscription.product_type},
        "quantity": subscription.quantity,
        "unitType": "Licenses",
        "creationDate": pc_time(subscription.created),
        "effectiveStartDate": pc_time(subscription.created),
        "commitmentEndDate": pc_time(subscription.commitment_end),
        "status": subscription.status,
        "autoRenewEnabled": True,
        "billingType": "license",
        "billingCycle": subscription.billing_cycle,
        "termDuration": subscription.term_duration,
        "contractType": "subscription",
        "links": {
            "product": {
                "uri": f"/products/{product_id}?country={customer.country}",
                "method": "GET",
                "headers": [],
            },
            **_links(f"/customers/{customer.tenant_id}/subscriptions/{subscription.id}"),
        },
        "attributes": {"objectType": "Subscription"},
    }
