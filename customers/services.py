"""Changes to customers, subscriptions and delegated-admin relationships.

Every change goes through here, in one transaction with its audit entry; the relationship summary
on the customer (``gdap_access_until``, ``gdap_ever_active``) is refreshed whenever a relationship
changes.
"""

import re

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from core import audit
from customers import gdap
from customers.models import (
    Contact,
    Customer,
    DelegatedAdminRelationship,
    Tag,
)

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
    audit.record(
        actor=actor,
        action="customer.created",
        target=customer,
        after=customer_snapshot(customer),
        request=request,
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
    if after != before:
        audit.record(
            actor=actor,
            action="customer.updated",
            target=customer,
            before=before,
            after=after,
            request=request,
        )
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
    audit.record(
        actor=actor,
        action="subscription.created" if is_new else "subscription.updated",
        target=subscription,
        before=before,
        after=_snapshot(subscription, SUBSCRIPTION_FIELDS),
        request=request,
    )
    return subscription


def relationship_snapshot(relationship):
    return _snapshot(relationship, RELATIONSHIP_FIELDS)


@transaction.atomic
def save_relationship(relationship, *, actor, request=None, **fields):
    is_new = relationship.pk is None
    before = None if is_new else _snapshot(relationship, RELATIONSHIP_FIELDS)
    for field, value in fields.items():
        setattr(relationship, field, value)
    relationship.roles = sorted(set(relationship.roles or []))
    if before == _snapshot(relationship, RELATIONSHIP_FIELDS):
        return relationship  # nothing changed: nothing written
    relationship.full_clean()
    relationship.save()
    refresh_gdap_summary(relationship.customer)
    audit.record(
        actor=actor,
        action="gdap.relationship_created" if is_new else "gdap.relationship_updated",
        target=relationship,
        before=before,
        after=_snapshot(relationship, RELATIONSHIP_FIELDS),
        request=request,
    )
    return relationship


def refresh_gdap_summary(customer):
    """Recompute the customer's delegated-access summary from its relationships."""
    summary = DelegatedAdminRelationship.objects.filter(customer=customer).aggregate(
        access_until=Max(
            "ends_on", filter=Q(status__in=gdap.ACCESS_STATUSES, ends_on__isnull=False)
        ),
        ever_active=Max("activated_on"),
        ended=Max("pk", filter=Q(status__in=gdap.ENDED_STATUSES)),
    )
    ever_active = summary["ever_active"] is not None or summary["ended"] is not None
    changed = Customer.objects.filter(pk=customer.pk).exclude(
        gdap_access_until=summary["access_until"], gdap_ever_active=ever_active
    )
    # Only a real change moves modified_at, so a re-sync that learns nothing writes nothing.
    changed.update(
        gdap_access_until=summary["access_until"],
        gdap_ever_active=ever_active,
        modified_at=timezone.now(),
    )
    customer.gdap_access_until = summary["access_until"]
    customer.gdap_ever_active = ever_active


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
