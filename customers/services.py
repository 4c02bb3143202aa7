"""Changes to customers, subscriptions and delegated-admin relationships.

Every change goes through here, in one transaction with its audit entry; the relationship summary
on the customer (``gdap_access_until``, ``gdap_ever_active``) is refreshed whenever a relationship
changes.
"""

import re
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Max, Prefetch, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from core import audit, events
from core.models import EventTypeChoices
from customers import gdap
from customers.models import (
    AccessAssignment,
    Contact,
    Customer,
    DelegatedAdminRelationship,
    Tag,
)
from customers.serializers import CustomerSerializer, RelationshipSerializer

TAG_PATTERN = re.compile(r"^[\w-]{1,50}$")
CUSTOMER_FIELDS = (
    "company_name",
    "default_domain",
    "other_domains",
    "country",
    "relationship",
    "notes",
)
SUBSCRIPTION_FIELDS = ("service_family", "offer_name", "quantity", "status", "term_end")
RELATIONSHIP_FIELDS = (
    "microsoft_id",
    "display_name",
    "status",
    "duration",
    "auto_extend_duration",
    "roles",
    "created_on",
    "activated_on",
    "ends_on",
)


def customer_snapshot(customer):
    data = {field: getattr(customer, field) for field in CUSTOMER_FIELDS}
    data["tenant_id"] = str(customer.tenant_id)
    data["tags"] = sorted(tag.name for tag in customer.tags.all()) if customer.pk else []
    data["contacts"] = (
        [
            {"name": c.name, "email": c.email, "phone": c.phone, "role": c.role}
            for c in customer.contacts.all()
        ]
        if customer.pk
        else []
    )
    return data


def _snapshot(instance, fields):
    return {field: getattr(instance, field) for field in fields}


# --- events -------------------------------------------------------------------------------------


def customer_updated_events(changed):
    """``customer.updated`` events for ``{customer pk: changed API field names}``.

    The payload is the customer as ``GET /api/v1/customers/<tenant id>/`` shows it; the summary
    names the changed fields (``Contoso Ltd: company_name, tags``). A few queries for any number
    of customers."""
    if not changed:
        return []
    order = CustomerSerializer.Meta.fields
    customers = Customer.objects.filter(pk__in=changed).prefetch_related(
        "tags",
        # The order the API shows (CustomerViewSet.get_queryset).
        Prefetch("contacts", queryset=Contact.objects.order_by("role", "name", "pk")),
    )
    context = events.api_context()
    built = []
    for customer in customers.order_by("pk"):
        fields = sorted(
            changed[customer.pk],
            key=lambda name: (order.index(name) if name in order else len(order), name),
        )
        built.append(
            events.build(
                type=EventTypeChoices.CUSTOMER_UPDATED,
                summary=f"{customer.company_name}: {', '.join(fields)}",
                object_type="customer",
                object_id=str(customer.tenant_id),
                object_url=events.absolute_url(
                    reverse("api-v1:customer-detail", kwargs={"tenant_id": customer.tenant_id})
                ),
                consolidation_key=f"customer:{customer.tenant_id}",
                tenant_id=customer.tenant_id,
                payload=CustomerSerializer(customer, context=context).data,
            )
        )
    return built


class CustomerChanges:
    """Customers changed within one transaction and their changed fields: one event each.

    The GDAP sync passes one through every relationship it saves, so a customer whose access
    summary moves three times in a sync gets one ``customer.updated``, recorded at the end."""

    def __init__(self):
        self.fields = {}

    def add(self, customer, fields):
        self.fields.setdefault(customer.pk, set()).update(fields)

    def record(self):
        return events.record(customer_updated_events(self.fields))


def _clean_tag_names(names):
    cleaned = sorted({name.strip().lower() for name in names if name.strip()})
    invalid = [name for name in cleaned if not TAG_PATTERN.match(name)]
    if invalid:
        raise ValidationError(
            {
                "tags": _("Tags are single words (letters, digits, - and _): %(tags)s")
                % {"tags": ", ".join(invalid)}
            }
        )
    return cleaned


def _set_tags(customer, names):
    tags = []
    for name in names:
        tag, _created = Tag.objects.get_or_create(name=name)
        tags.append(tag)
    customer.tags.set(tags)


def _set_contacts(customer, contacts):
    customer.contacts.all().delete()
    Contact.objects.bulk_create(Contact(customer=customer, **contact) for contact in contacts)


@transaction.atomic
def create_customer(*, actor, request=None, tags=(), contacts=(), **fields):
    tags = _clean_tag_names(tags)
    customer = Customer(**fields)
    customer.full_clean()
    customer.save()
    _set_tags(customer, tags)
    _set_contacts(customer, contacts)
    audit.record_change(
        actor, "customer.created", customer, None, customer_snapshot(customer), request
    )
    return customer


@transaction.atomic
def update_customer(customer, *, actor, request=None, tags=None, contacts=None, **fields):
    """Update the given fields; ``tags`` and ``contacts`` replace the current ones when given."""
    if tags is not None:
        tags = _clean_tag_names(tags)
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    before = customer_snapshot(customer)
    for field, value in fields.items():
        setattr(customer, field, value)
    customer.full_clean()
    wanted = {**_snapshot(customer, CUSTOMER_FIELDS)}
    wanted["tags"] = before["tags"] if tags is None else list(tags)
    wanted["contacts"] = (
        before["contacts"]
        if contacts is None
        else sorted(
            (
                {key: contact.get(key, "") for key in ("name", "email", "phone", "role")}
                for contact in contacts
            ),
            # The order customer.contacts.all() gives (Contact.Meta.ordering).
            key=lambda contact: (contact["role"], contact["name"]),
        )
    )
    if all(before[key] == value for key, value in wanted.items()):
        # Nothing changed: nothing is written, so modified_at (incremental sync) stays put.
        return customer
    customer.save()
    if tags is not None:
        _set_tags(customer, tags)
    if contacts is not None:
        _set_contacts(customer, contacts)
    after = customer_snapshot(customer)
    changed = [key for key, value in after.items() if before.get(key) != value]
    if audit.record_change(actor, "customer.updated", customer, before, after, request):
        events.record(customer_updated_events({customer.pk: changed}))
    return customer


def _touch(customer):
    # A change below the customer (subscription, relationship) is a change of the customer for
    # incremental sync (?modified_since=).
    Customer.objects.filter(pk=customer.pk).update(modified_at=timezone.now())


@transaction.atomic
def save_subscription(subscription, *, actor, request=None, **fields):
    is_new = subscription.pk is None
    before = None if is_new else _snapshot(subscription, SUBSCRIPTION_FIELDS)
    for field, value in fields.items():
        setattr(subscription, field, value)
    if before == _snapshot(subscription, SUBSCRIPTION_FIELDS):
        return subscription  # nothing changed: nothing written
    subscription.full_clean()
    subscription.save()
    _touch(subscription.customer)
    after = _snapshot(subscription, SUBSCRIPTION_FIELDS)
    audit.record_change(
        actor,
        "subscription.created" if is_new else "subscription.updated",
        subscription,
        before,
        after,
        request,
    )
    return subscription


def subscription_snapshot(subscription):
    return _snapshot(subscription, SUBSCRIPTION_FIELDS)


def relationship_snapshot(relationship):
    return _snapshot(relationship, RELATIONSHIP_FIELDS)


@transaction.atomic
def save_relationship(relationship, *, actor, request=None, customer_changes=None, **fields):
    """Create or update a relationship and refresh its customer's access summary.

    ``customer_changes`` (a CustomerChanges) collects the customer's change for one event later
    in the same transaction; without it the ``customer.updated`` event is recorded here."""
    is_new = relationship.pk is None
    before = None if is_new else _snapshot(relationship, RELATIONSHIP_FIELDS)
    for field, value in fields.items():
        setattr(relationship, field, value)
    relationship.roles = sorted(set(relationship.roles or []))
    if before == _snapshot(relationship, RELATIONSHIP_FIELDS):
        return relationship  # nothing changed: nothing written
    relationship.full_clean()
    # Only the fields edited here: a stale copy must not undo the expiry warning's mark.
    relationship.save(update_fields=None if is_new else [*RELATIONSHIP_FIELDS, "modified_at"])
    refresh_gdap_summary(relationship.customer, customer_changes=customer_changes)
    action = "gdap.relationship_created" if is_new else "gdap.relationship_updated"
    after = _snapshot(relationship, RELATIONSHIP_FIELDS)
    audit.record_change(actor, action, relationship, before, after, request)
    return relationship


@transaction.atomic
def refresh_gdap_summary(customer, *, customer_changes=None):
    """Recompute the customer's delegated-access summary from its relationships.

    A change the API shows (``gdap_access_until``, ``gdap_state``) is a ``customer.updated``
    event, recorded now or collected in ``customer_changes`` for the caller to record."""
    summary = DelegatedAdminRelationship.objects.filter(customer=customer).aggregate(
        access_until=Max(
            "ends_on", filter=Q(status__in=gdap.ACCESS_STATUSES, ends_on__isnull=False)
        ),
        ever_active=Max("activated_on"),
        ended=Max("pk", filter=Q(status__in=gdap.ENDED_STATUSES)),
    )
    new = Customer(
        gdap_access_until=summary["access_until"],
        gdap_ever_active=summary["ever_active"] is not None or summary["ended"] is not None,
    )
    # The stored values, not the caller's copy, say what changed. NO KEY: relationship inserts
    # for this customer (a key-share lock on it) are not blocked, so they cannot deadlock with us.
    old = Customer(
        **Customer.objects.select_for_update(no_key=True)
        .values("gdap_access_until", "gdap_ever_active")
        .get(pk=customer.pk)
    )
    customer.gdap_access_until = new.gdap_access_until
    customer.gdap_ever_active = new.gdap_ever_active
    if (
        old.gdap_access_until == new.gdap_access_until
        and old.gdap_ever_active == new.gdap_ever_active
    ):
        return  # a re-sync that learns nothing writes nothing, so modified_at stays put
    Customer.objects.filter(pk=customer.pk).update(
        gdap_access_until=new.gdap_access_until,
        gdap_ever_active=new.gdap_ever_active,
        modified_at=timezone.now(),
    )
    now = timezone.now()
    fields = {"gdap_access_until"} if old.gdap_access_until != new.gdap_access_until else set()
    if old.gdap_state(now) != new.gdap_state(now):
        fields.add("gdap_state")
    if not fields:
        return  # only gdap_ever_active moved, while access lasts: nothing the API shows
    if customer_changes is None:
        events.record(customer_updated_events({customer.pk: fields}))
    else:
        customer_changes.add(customer, fields)


@transaction.atomic
def warn_expiring_relationships(now=None):
    """Beat: a ``gdap.expiring`` event for each relationship granting access that ends within
    ``GDAP_EXPIRY_WARNING_DAYS``, once per end date. Returns the events recorded.

    The warned end date is kept on the relationship in the same transaction, so a second run
    records nothing, and one that overlaps skips the rows the first holds."""
    now = now or timezone.now()
    due = (
        DelegatedAdminRelationship.objects.filter(
            status__in=gdap.ACCESS_STATUSES,
            ends_on__gt=now,
            ends_on__lte=now + timedelta(days=settings.GDAP_EXPIRY_WARNING_DAYS),
        )
        .filter(Q(expiry_warned_for__isnull=True) | ~Q(expiry_warned_for=F("ends_on")))
        .select_related("customer")
        .select_for_update(of=("self",), skip_locked=True)
        .order_by("ends_on", "pk")
    )
    relationships = list(
        due.prefetch_related(
            # The order the API shows (CustomerViewSet.relationships).
            Prefetch(
                "access_assignments",
                queryset=AccessAssignment.objects.order_by("security_group_name", "pk"),
            )
        )
    )
    if not relationships:
        return []
    context = events.api_context()
    built = []
    for relationship in relationships:
        tenant_id = relationship.customer.tenant_id
        # Plain English, like the API: the text becomes a PSA ticket's title.
        summary = (
            f'{relationship.customer.company_name}: delegated access "{relationship.display_name}" '
            f"ends {relationship.ends_on:%Y-%m-%d}"
        )
        if relationship.can_auto_extend:
            summary += f" (set to auto-extend by {relationship.auto_extend_duration})"
        built.append(
            events.build(
                type=EventTypeChoices.GDAP_EXPIRING,
                summary=summary,
                object_type="gdap_relationship",
                object_id=relationship.microsoft_id,
                # Relationships are read through their customer: there is no detail endpoint.
                object_url=events.absolute_url(
                    reverse("api-v1:customer-relationships", kwargs={"tenant_id": tenant_id})
                ),
                consolidation_key=f"gdap:{relationship.microsoft_id}:{tenant_id}",
                tenant_id=tenant_id,
                payload=RelationshipSerializer(relationship, context=context).data,
            )
        )
    # No modified_at change: a warning is not a change of the relationship (incremental sync).
    DelegatedAdminRelationship.objects.filter(pk__in=[r.pk for r in relationships]).update(
        expiry_warned_for=F("ends_on")
    )
    return events.record(built)


@transaction.atomic
def import_customers(rows, *, actor, source=None):
    """Create many checked customers at once (the CSV import), each with its audit entry.

    ``rows`` are dicts of customer fields plus ``tags`` and ``contacts``, already validated.
    Bulk statements keep a 10,000-row import to a few dozen queries.
    """
    customers = []
    for row in rows:
        fields = {k: v for k, v in row.items() if k not in ("tags", "contacts")}
        customer = Customer(**fields)
        customer.normalise()
        customer.save_prepare()
        customers.append(customer)
    Customer.objects.bulk_create(customers, batch_size=500)
    # bulk_create sets primary keys on PostgreSQL and SQLite alike.
    tag_names = sorted({name for row in rows for name in _clean_tag_names(row.get("tags", ()))})
    existing = {tag.name: tag for tag in Tag.objects.filter(name__in=tag_names)}
    Tag.objects.bulk_create(
        [Tag(name=name) for name in tag_names if name not in existing], batch_size=500
    )
    tags = {tag.name: tag for tag in Tag.objects.filter(name__in=tag_names)}
    Customer.tags.through.objects.bulk_create(
        [
            Customer.tags.through(customer_id=customer.pk, tag_id=tags[name].pk)
            for customer, row in zip(customers, rows, strict=True)
            for name in _clean_tag_names(row.get("tags", ()))
        ],
        batch_size=1000,
    )
    Contact.objects.bulk_create(
        [
            Contact(customer=customer, **contact)
            for customer, row in zip(customers, rows, strict=True)
            for contact in row.get("contacts", ())
        ],
        batch_size=1000,
    )
    audit.record_many(
        actor=actor,
        action="customer.imported",
        entries=[
            (
                customer,
                None,
                {
                    **_snapshot(customer, CUSTOMER_FIELDS),
                    "tags": row.get("tags", []),
                    "contacts": row.get("contacts", []),
                    "import": source.pk if source else None,
                },
            )
            for customer, row in zip(customers, rows, strict=True)
        ],
    )
    return customers
