"""The Message center list's filters (category, severity, service, major change, act-by date,
customer and search), one set for the page and the API, which adds incremental sync."""

import json

import django_filters
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.filters import PortalFilterSet, search_fields
from core.incremental import ModifiedSinceFilter
from messagecenter.models import MessageRecipient, ServiceMessage


def json_list_holds(field, value):
    """Rows whose JSON list ``field`` holds ``value`` (any case), on every database: SQLite has no
    JSON containment, so the element is found with its quotes in the column's text. PostgreSQL
    writes that text with non-ASCII as it is, SQLite as escapes: either form matches."""
    forms = {json.dumps(value), json.dumps(value, ensure_ascii=False)}
    condition = Q()
    for form in forms:
        condition |= Q(**{f"{field}__icontains": form})
    return condition


class MessageFilterSet(PortalFilterSet):
    q = django_filters.CharFilter(
        method="filter_search", label=_("Search"), help_text=_("Id, title or text.")
    )
    # Plain text, not choices: Microsoft adds values (unknownFutureValue) and they stay findable.
    category = django_filters.CharFilter(label=_("Category"))
    severity = django_filters.CharFilter(label=_("Severity"))
    service = django_filters.CharFilter(
        method="filter_service", label=_("Service"), help_text=_("One of the message's services.")
    )
    major_change = django_filters.BooleanFilter(
        field_name="is_major_change", label=_("Major change")
    )
    act_by_before = django_filters.DateFilter(
        field_name="action_required_by",
        lookup_expr="date__lt",
        label=_("Act by before"),
        help_text=_("Messages whose action is required before this date (YYYY-MM-DD)."),
    )
    customer = django_filters.UUIDFilter(
        method="filter_customer", label=_("Customer"), help_text=_("The customer's tenant id.")
    )

    class Meta:
        model = ServiceMessage
        fields = [
            "q",
            "category",
            "severity",
            "service",
            "major_change",
            "act_by_before",
            "customer",
        ]

    def filter_search(self, queryset, name, value):
        return search_fields(queryset, value, ("microsoft_id", "title", "body"))

    def filter_service(self, queryset, name, value):
        return queryset.filter(json_list_holds("services", value))

    def filter_customer(self, queryset, name, value):
        # A subquery, not a join: the list's recipient count must stay the full count.
        recipients = MessageRecipient.objects.filter(customer__tenant_id=value)
        return queryset.filter(pk__in=recipients.values("message_id"))


class MessageApiFilterSet(MessageFilterSet):
    """The list's filters, plus incremental sync for PSA tools (not on the page, as for
    incidents)."""

    modified_since = ModifiedSinceFilter()

    class Meta(MessageFilterSet.Meta):
        fields = [*MessageFilterSet.Meta.fields, "modified_since"]
