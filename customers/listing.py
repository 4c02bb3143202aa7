"""The rows of the customer list page, rendered in Python once per page.

The list shows 50 rows on every request. Rendered by the template engine, the rows were most of
the page's time: each reversed a URL, looked up its relationship label through lazy translations,
included a badge template and resolved a dozen variables. Here, as Django's admin does for its
change list, a row is one format_html() call (which escapes every value): the URL comes from one
reverse(), the labels are translated once per request, the tags come as plain values, and only
the rare row with a feed badge renders servicehealth's template for it.
"""

import uuid
from collections import defaultdict
from typing import NamedTuple
from urllib.parse import urlencode

from django.db.models import BigIntegerField, Value, prefetch_related_objects
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import dateformat, timezone
from django.utils.html import format_html, format_html_join
from django.utils.timesince import timeuntil
from django.utils.translation import gettext as _

from customers.choices import CustomerRelationshipChoices
from customers.gdap import GdapStateChoices
from customers.models import Customer, Tag

# What a row shows; the rest (notes, search text, Microsoft's links) stays unread.
LIST_COLUMNS = (
    "tenant_id",
    "company_name",
    "default_domain",
    "initial_domain",
    "country",
    "relationship",
    "removed_from_partner_center_at",
    "gdap_access_until",
    "gdap_ever_active",
)

ROW = (
    '<tr><td><a href="{url}">{name}</a>{removed}</td><td>{domain}</td><td>{country}</td>'
    "<td>{relationship}</td><td>{tags}</td><td>{access}{feeds}</td></tr>\n"
)
TAG = '<a class="badge" href="?{}">{}</a> '
TIMESTAMP = "Y-m-d H:i"


class TagNames(NamedTuple):
    every: list  # every tag's name: the tag filter's choices
    listed: dict  # {customer pk: the names of its tags}


def tag_names(customers):
    """The tags the page shows, in name order, as plain values from one query: the filter's
    choices, and the tags of the listed customers through the many-to-many table."""
    listed = Customer.tags.through.objects.filter(customer__in=[c.pk for c in customers])
    # The parts unordered: the union is ordered once, and a part left alone (no customer
    # listed) would otherwise bring Tag's own ordering into the same statement.
    every = Tag.objects.order_by().values_list("name", Value(None, output_field=BigIntegerField()))
    rows = every.union(listed.order_by().values_list("tag__name", "customer_id"), all=True)
    names = TagNames([], defaultdict(list))
    for name, customer_id in rows.order_by("name"):
        if customer_id is None:
            names.every.append(name)
        else:
            names.listed[customer_id].append(name)
    return names


def render_rows(customers, tags):
    """Set ``row`` on each customer of a page (read with ``.only(*LIST_COLUMNS)`` and
    ``.with_feed_badge()``): its table row as safe HTML. ``tags``: from tag_names()."""
    prefetch_related_objects([c for c in customers if c.has_feed_badge], "feed_sources")
    rows = _Rows(tags.listed, timezone.now())
    for customer in customers:
        customer.row = rows.row(customer)


def _timestamp(moment):
    return dateformat.format(timezone.localtime(moment), TIMESTAMP)


class _Rows:
    """What every row of one page shares: the URL around the tenant id, the translated labels,
    the instant the access states are judged at."""

    def __init__(self, tags, now):
        placeholder = str(uuid.UUID(int=0))
        url = reverse("customers:detail", args=[placeholder])
        self.url_head, _sep, self.url_tail = url.partition(placeholder)
        self.tags = tags
        self.now = now
        self.relationships = {
            value: str(label) for value, label in CustomerRelationshipChoices.choices
        }
        self.removed_label = _("Removed from Partner Center")
        self.access_badges = {
            GdapStateChoices.ACTIVE: format_html('<span class="badge ok">{}</span>', _("Active")),
            GdapStateChoices.EXPIRED: format_html(
                '<span class="badge danger">{}</span>', _("No delegated access")
            ),
            GdapStateChoices.NONE: format_html('<span class="badge">{}</span>', _("None")),
        }

    def row(self, customer):
        return format_html(
            ROW,
            url=f"{self.url_head}{customer.tenant_id}{self.url_tail}",
            name=customer.company_name,
            removed=self.removed_badge(customer.removed_from_partner_center_at),
            domain=customer.default_domain or customer.initial_domain or "—",
            country=customer.country,
            relationship=self.relationships.get(customer.relationship, customer.relationship),
            tags=format_html_join(
                "", TAG, ((urlencode({"tag": name}), name) for name in self.tags[customer.pk])
            ),
            access=self.access_badge(customer),
            feeds=render_to_string(
                "servicehealth/_customer_feed_badges.html", {"customer": customer}
            )
            if customer.has_feed_badge
            else "",
        )

    def removed_badge(self, removed_at):
        if removed_at is None:
            return ""
        return format_html(
            ' <span class="badge warning" title="{}">{}</span>',
            _timestamp(removed_at),
            self.removed_label,
        )

    def access_badge(self, customer):
        state = customer.gdap_state(self.now)
        if state != GdapStateChoices.EXPIRING:
            return self.access_badges[state]
        until = customer.gdap_access_until
        return format_html(
            '<span class="badge warning" title="{}">{}</span>',
            _timestamp(until),
            _("Ends in %(left)s") % {"left": timeuntil(until, self.now)},
        )
