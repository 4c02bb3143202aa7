"""Demo customers for `make run`: about sixty tenants of a Turkish/European CSP partner.

The data is generated from a fixed seed, so every load produces the same companies, contacts,
subscriptions and delegated-admin relationships; only the dates move with the clock, so the demo
always has access that ends within a day, a week and a month. Customers are keyed by a
deterministic tenant id: a customer that is already there is skipped entirely, so loading twice
creates nothing the second time.
"""

import random
import re
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from django.utils import timezone

from customers import gdap, services
from customers.choices import (
    ContactRoleChoices,
    CustomerRelationshipChoices,
    ServiceFamilyChoices,
    SubscriptionStatusChoices,
)
from customers.gdap import RelationshipStatusChoices as Status
from customers.models import AccessAssignment, Customer, DelegatedAdminRelationship, Subscription
from demo.customer_tables import (
    ADDON_OFFERS,
    COMPANIES,
    CORE_OFFERS,
    NAMES,
    NOTES,
    PHONES,
    SEATS,
)

SEED = 20261127
# Tenant, relationship and assignment ids are uuid5 values in this namespace.
NAMESPACE = uuid.UUID("6f1d3c52-8a47-4e0b-9c1e-5b2a7d90e4f3")

ROLE_IDS = {name: role_id for role_id, name in gdap.ENTRA_ROLES.items()}
LEAST_PRIVILEGED = ["Service Support Administrator", "Helpdesk Administrator", "Global Reader"]
EXTRA_ROLES = [
    ["User Administrator"],
    ["License Administrator"],
    ["Authentication Administrator"],
    ["Exchange Administrator"],
    ["SharePoint Administrator"],
    ["Teams Administrator"],
    ["Intune Administrator"],
    ["Security Administrator", "Conditional Access Administrator"],
    ["Reports Reader", "Message Center Reader"],
    ["Dynamics 365 Administrator"],
    ["Power Platform Administrator"],
    ["Billing Administrator"],
]
GLOBAL_ADMIN_ROLES = ["Global Administrator", "Global Reader"]
DURATIONS = {"P730D": 730, "P365D": 365, "P180D": 180, "P90D": 90}
NEVER = "PT0S"

# The partner's own security groups, the same in every relationship.
HELPDESK_GROUP = "Helpdesk Agents"
HELPDESK_ROLES = {"Helpdesk Administrator", "Service Support Administrator", "Global Reader"}
TIER2_GROUP = "Tier 2 Support"
ADMIN_GROUP = "Partner Admins (break glass)"

LEGAL_SUFFIX = re.compile(
    r"\s+(A\.Ş\.|Ltd\. Şti\.|San\. ve Tic\. A\.Ş\.|GmbH|gGmbH|AG|KG|e\.V\.|Ltd|plc|B\.V\.|NV|"
    r"SAS|SA|Inc\.|LLC|S\.L\.|S\.p\.A\.|Sp\. z o\.o\.|AB)$"
)
ASCII_FOLD = str.maketrans({"ı": "i", "ß": "ss", "ł": "l", "ə": "e", "'": "", " ": ""})
GERMAN_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue"})


@dataclass
class RelationshipPlan:
    status: str
    purpose: str
    ends_in: timedelta | None = None  # from now; negative once it ended
    global_admin: bool = False
    auto_extend: str | None = None  # None: chosen at random


@dataclass
class CustomerPlan:
    tenant_id: uuid.UUID
    fields: dict
    tags: list
    contacts: list
    subscriptions: list = field(default_factory=list)
    relationships: list = field(default_factory=list)


def _uuid(*parts):
    return uuid.uuid5(NAMESPACE, "|".join(str(part) for part in parts))


def _ascii(text, country):
    text = text.lower()
    if country in ("DE", "AT", "CH"):
        text = text.translate(GERMAN_UMLAUTS)
    text = unicodedata.normalize("NFKD", text.translate(ASCII_FOLD))
    return text.encode("ascii", "ignore").decode()


def _digits(rng, template):
    return "".join(str(rng.randint(0, 9)) if char == "#" else char for char in template)


def _contacts(rng, country, domains):
    firsts, lasts = NAMES[country]
    lasts = lasts.split("|") if "|" in lasts else lasts.split()
    mail_domain = next((d for d in domains if not d.endswith(".onmicrosoft.com")), domains[0])
    roles = [ContactRoleChoices.PRIMARY] + rng.sample(
        [
            ContactRoleChoices.TECHNICAL,
            ContactRoleChoices.BILLING,
            ContactRoleChoices.SECURITY,
            ContactRoleChoices.OTHER,
        ],
        2,
    )
    contacts, used = [], set()
    for role in roles[: rng.choice([1, 2, 2, 3])]:
        first, last = rng.choice(firsts.split()), rng.choice(lasts)
        while (first, last) in used:
            first, last = rng.choice(firsts.split()), rng.choice(lasts)
        used.add((first, last))
        contacts.append(
            {
                "name": f"{first} {last}",
                "email": f"{_ascii(first, country)}.{_ascii(last, country)}@{mail_domain}",
                "phone": _digits(rng, rng.choice(PHONES[country])),
                "role": role,
            }
        )
    return contacts


def _subscriptions(rng, size, today):
    low, high = SEATS[size]
    seats = rng.randint(low, high)
    offer, family = rng.choice(CORE_OFFERS[size])
    lines = [(offer, family, seats)]
    addons = [addon for addon in ADDON_OFFERS if addon[0] != offer]
    for name, family, low_share, high_share in rng.sample(addons, rng.randint(0, 4)):
        if low_share is None:
            quantity = rng.randint(1, 6) if "Rooms" in name else 1
        else:
            quantity = max(1, round(seats * rng.uniform(low_share, high_share)))
        lines.append((name, family, quantity))
    subscriptions = []
    for name, family, quantity in lines:
        status = rng.choices(
            [
                SubscriptionStatusChoices.ACTIVE,
                SubscriptionStatusChoices.SUSPENDED,
                SubscriptionStatusChoices.EXPIRED,
                SubscriptionStatusChoices.PENDING,
            ],
            weights=[80, 7, 6, 7],
        )[0]
        if family == ServiceFamilyChoices.AZURE or status == SubscriptionStatusChoices.PENDING:
            term_end = None  # Azure plan is pay-as-you-go; a pending order has no term yet
        elif status == SubscriptionStatusChoices.EXPIRED:
            term_end = today - timedelta(days=rng.randint(3, 200))
        else:
            term_end = today + timedelta(days=rng.randint(5, 365))
        subscriptions.append(
            {
                "service_family": family,
                "offer_name": name,
                "quantity": quantity,
                "status": status,
                "term_end": term_end,
            }
        )
    return subscriptions


def _days(rng, low, high):
    """A random span between ``low`` and ``high`` days, to the minute."""
    return timedelta(minutes=rng.randint(int(low * 24 * 60), int(high * 24 * 60)))


def _relationship_scenarios(rng, count):
    """One list of relationships per customer, covering every status and expiry flag."""
    active, expiring = Status.ACTIVE, Status.EXPIRING
    scenarios = [[] for _ in range(5)]  # no delegated access ever
    # Access ending within a day, a week and a month (flagged 1, 7 and 30).
    scenarios += [[RelationshipPlan(active, "Support", _days(rng, 0.1, 0.8))] for _ in range(3)]
    scenarios += [[RelationshipPlan(active, "Helpdesk", _days(rng, 2, 6))] for _ in range(3)]
    scenarios += [[RelationshipPlan(active, "Support", _days(rng, 9, 28))] for _ in range(3)]
    scenarios += [
        # Global Administrator: never auto-extended, and about to end.
        [RelationshipPlan(active, "Onboarding", _days(rng, 0.2, 0.9), global_admin=True)],
        [RelationshipPlan(expiring, "Managed Services", _days(rng, 3, 6))],
        [RelationshipPlan(expiring, "Support", _days(rng, 12, 25))],
        # A renewal waiting for the customer's approval while the current one runs out.
        [
            RelationshipPlan(active, "Support", _days(rng, 15, 29)),
            RelationshipPlan(Status.APPROVAL_PENDING, "Support Renewal"),
        ],
    ]
    # Access that is gone.
    scenarios += [
        [RelationshipPlan(Status.EXPIRED, "Support", -_days(rng, 3, 300))],
        [RelationshipPlan(Status.EXPIRED, "Helpdesk", -_days(rng, 3, 300))],
        [RelationshipPlan(Status.EXPIRED, "Onboarding", -_days(rng, 30, 400), global_admin=True)],
        [
            RelationshipPlan(Status.EXPIRED, "Support", -_days(rng, 10, 60)),
            RelationshipPlan(Status.APPROVAL_PENDING, "Support Renewal"),
        ],
        [RelationshipPlan(Status.TERMINATED, "Managed Services", -_days(rng, 5, 120))],
        [RelationshipPlan(Status.TERMINATION_REQUESTED, "Support", _days(rng, 60, 400))],
        [RelationshipPlan(Status.TERMINATING, "Helpdesk", _days(rng, 60, 400))],
        # Graph added a status after this portal was written: kept as sent.
        [RelationshipPlan("suspendedByMicrosoft", "Support", _days(rng, 60, 400))],
    ]
    # Waiting for the customer: never active yet.
    scenarios += [
        [RelationshipPlan(Status.CREATED, "Support")],
        [RelationshipPlan(Status.APPROVAL_PENDING, "Support")],
        [RelationshipPlan(Status.APPROVED, "Helpdesk")],
        [RelationshipPlan(Status.ACTIVATING, "Support")],
    ]
    # The rest: access for months or years, some with history or a second relationship.
    while len(scenarios) < count:
        current = RelationshipPlan(active, "Support", _days(rng, 60, 700))
        extra = rng.choices(["none", "renewed", "terminated", "security"], [6, 2, 1, 1])[0]
        if extra == "renewed":
            ended = -_days(rng, 1, 90)
            scenarios.append([current, RelationshipPlan(Status.EXPIRED, "Helpdesk", ended)])
        elif extra == "terminated":
            scenarios.append(
                [
                    current,
                    RelationshipPlan(Status.TERMINATED, "Legacy Support", -_days(rng, 30, 500)),
                ]
            )
        elif extra == "security":
            scenarios.append(
                [current, RelationshipPlan(active, "Security Operations", _days(rng, 60, 170))]
            )
        else:
            scenarios.append([current])
    # Two long-running Global Administrator relationships. One keeps a P180D auto-extend
    # request: the portal must still show that it cannot auto-extend.
    scenarios[-1].append(
        RelationshipPlan(active, "Tenant Admin", _days(rng, 40, 80), True, auto_extend="P180D")
    )
    scenarios[-2].append(RelationshipPlan(active, "Tenant Admin", _days(rng, 60, 85), True, NEVER))
    rng.shuffle(scenarios)
    return scenarios[:count]


def _display_name(company_name, purpose):
    base = LEGAL_SUFFIX.sub("", company_name)
    suffix = f" - {purpose}"
    return base[: 50 - len(suffix)].rstrip(" -.,&") + suffix


def _roles(rng, plan):
    if plan.global_admin:
        names = GLOBAL_ADMIN_ROLES
    else:
        names = LEAST_PRIVILEGED + [
            name for extra in rng.sample(EXTRA_ROLES, rng.randint(0, 3)) for name in extra
        ]
    return [role_id for role_id, name in gdap.ENTRA_ROLES.items() if name in names]


def _relationship_fields(rng, company_name, tenant_id, index, plan, now):
    roles = _roles(rng, plan)
    fields = {
        "microsoft_id": f"{_uuid(company_name, 'relationship', index)}-{tenant_id}",
        "display_name": _display_name(company_name, plan.purpose),
        "status": plan.status,
        "roles": roles,
    }
    if plan.ends_in is None:  # not approved yet: no activation, no end
        fields["duration"] = rng.choice(["P730D", "P730D", "P365D"])
        fields["created_on"] = now - _days(rng, 0.1, 12)
        fields["last_modified_on"] = fields["created_on"]
    else:
        ends_on = now + plan.ends_in
        days_left = plan.ends_in.days
        choices = [d for d, days in DURATIONS.items() if days > days_left + 1] or ["P730D"]
        fields["duration"] = rng.choice(choices[:2])
        activated_on = ends_on - timedelta(days=DURATIONS[fields["duration"]])
        if plan.status == Status.TERMINATED:
            # Terminated before the end of its term: it ended when it was terminated.
            activated_on = ends_on - _days(rng, 30, 400)
        fields["created_on"] = activated_on - _days(rng, 0.05, 10)
        fields["activated_on"] = activated_on
        fields["ends_on"] = ends_on
        fields["last_modified_on"] = ends_on if ends_on < now else activated_on
    if plan.auto_extend is None and (plan.global_admin or plan.status == Status.EXPIRED):
        fields["auto_extend_duration"] = NEVER  # an expired one was, by definition, not extended
    elif plan.auto_extend is not None:
        fields["auto_extend_duration"] = plan.auto_extend
    else:
        # Access about to end is mostly access nobody asked to extend.
        soon = plan.ends_in is not None and plan.ends_in < gdap.EXPIRING_WINDOW
        fields["auto_extend_duration"] = (
            "P180D" if rng.random() < (0.25 if soon else 0.6) else NEVER
        )
    return fields


def _assignments(rng, relationship_fields):
    """One or two partner groups with roles from the relationship, for access relationships."""
    role_names = {gdap.role_name(role): role for role in relationship_fields["roles"]}
    activated = relationship_fields["activated_on"] + timedelta(minutes=rng.randint(5, 600))
    groups = [(HELPDESK_GROUP, [role_names[n] for n in sorted(HELPDESK_ROLES & set(role_names))])]
    if "Global Administrator" in role_names:
        groups.append((ADMIN_GROUP, [role_names["Global Administrator"]]))
    elif len(role_names) > len(HELPDESK_ROLES) or rng.random() < 0.5:
        groups.append((TIER2_GROUP, list(relationship_fields["roles"])))
    return [
        {
            "microsoft_id": str(_uuid(relationship_fields["microsoft_id"], group)),
            "security_group_id": str(_uuid("partner-group", group)),
            "security_group_name": group,
            "roles": [role for role in relationship_fields["roles"] if role in roles],
            "status": gdap.AccessAssignmentStatusChoices.ACTIVE,
            "created_on": activated,
            "last_modified_on": activated,
        }
        for group, roles in groups
        if roles
    ]


def plan(now=None):
    """The demo customers as plain data, the same for the same ``now``."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    rng = random.Random(SEED)  # noqa: S311 - demo data, not security
    scenarios = _relationship_scenarios(rng, len(COMPANIES))
    plans = []
    for (name, country, domain, others, tags, size), scenario in zip(
        COMPANIES, scenarios, strict=True
    ):
        tenant_id = _uuid(name)
        tags = tags.split() + (["smb"] if size == "smb" else [])
        customer = CustomerPlan(
            tenant_id=tenant_id,
            fields={
                "company_name": name,
                "default_domain": domain,
                "other_domains": others,
                "country": country,
                "relationship": rng.choices(
                    list(CustomerRelationshipChoices), weights=[60, 28, 12]
                )[0],
                "notes": rng.choice(NOTES) if rng.random() < 0.2 else "",
            },
            tags=tags,
            contacts=_contacts(rng, country, [domain, *others]),
            subscriptions=_subscriptions(rng, size, today),
        )
        for index, relationship in enumerate(scenario, start=1):
            fields = _relationship_fields(rng, name, tenant_id, index, relationship, now)
            assignments = (
                _assignments(rng, fields) if relationship.status in gdap.ACCESS_STATUSES else []
            )
            customer.relationships.append((fields, assignments))
        plans.append(customer)
    return plans


def load():
    """Create the demo customers that are not there yet; a summary line per kind of object."""
    plans = plan()
    existing_tenants = set(
        Customer.objects.filter(tenant_id__in=[p.tenant_id for p in plans]).values_list(
            "tenant_id", flat=True
        )
    )
    existing_domains = set(
        Customer.objects.filter(
            default_domain__in=[p.fields["default_domain"] for p in plans]
        ).values_list("default_domain", flat=True)
    )
    created = {"customers": 0, "subscriptions": 0, "relationships": 0, "assignments": 0}
    for customer_plan in plans:
        if (
            customer_plan.tenant_id in existing_tenants
            or customer_plan.fields["default_domain"] in existing_domains
        ):
            continue
        customer = services.create_customer(
            actor=None,
            tenant_id=customer_plan.tenant_id,
            tags=customer_plan.tags,
            contacts=customer_plan.contacts,
            **customer_plan.fields,
        )
        created["customers"] += 1
        for fields in customer_plan.subscriptions:
            services.save_subscription(Subscription(customer=customer), actor=None, **fields)
            created["subscriptions"] += 1
        assignments = []
        for fields, assignment_fields in customer_plan.relationships:
            relationship = services.save_relationship(
                DelegatedAdminRelationship(customer=customer), actor=None, **fields
            )
            created["relationships"] += 1
            assignments += [
                AccessAssignment(relationship=relationship, **assignment)
                for assignment in assignment_fields
            ]
        if assignments:
            AccessAssignment.objects.bulk_create(assignments)
            created["assignments"] += len(assignments)
            services.refresh_gdap_summary(customer)
    return [
        f"Demo customers: {created['customers']} created, "
        f"{len(plans) - created['customers']} already there.",
        f"Demo subscriptions: {created['subscriptions']} created.",
        f"Demo delegated-admin relationships: {created['relationships']} created, "
        f"with {created['assignments']} access assignments.",
    ]
