"""The service-request list's filters, one set for the page and the API, and the support topics'.

The page builds its own filter bar and never shows a filter's ``help_text``: the help texts are
the API's parameter descriptions, in plain English like the rest of the API; the labels are the
page's.
"""

import django_filters
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.filters import IntegerFilter, PortalFilterSet, search_fields
from core.incremental import ModifiedSinceFilter
from servicerequests.models import (
    CategoryChoices,
    ServiceRequest,
    SeverityChoices,
    StatusChoices,
    SupportTopic,
)


class ServiceRequestFilterSet(PortalFilterSet):
    q = django_filters.CharFilter(method="filter_search", label=_("Search"))
    status = django_filters.ChoiceFilter(choices=StatusChoices.choices, label=_("Status"))
    severity = django_filters.ChoiceFilter(choices=SeverityChoices.choices, label=_("Severity"))
    category = django_filters.ChoiceFilter(choices=CategoryChoices.choices, label=_("Category"))
    customer = django_filters.UUIDFilter(
        field_name="customer__tenant_id",
        label=_("Customer"),
        help_text=_("The customer's tenant id."),
    )
    channel = IntegerFilter(
        field_name="channel_id", label=_("Channel"), help_text="The support channel's id."
    )
    mine = django_filters.BooleanFilter(
        method="filter_mine",
        label=_("Mine"),
        help_text="true: only requests assigned to or opened by the caller.",
    )
    breached = django_filters.BooleanFilter(
        method="filter_breached",
        label=_("Breached"),
        help_text="true: only requests past their first-response target without a response.",
    )
    attention = django_filters.BooleanFilter(
        method="filter_attention",
        label=_("Needs attention"),
        help_text="true: only requests needing attention (Microsoft waits, delivery failed, "
        "or breached).",
    )

    class Meta:
        model = ServiceRequest
        fields = [
            "q",
            "status",
            "severity",
            "category",
            "customer",
            "channel",
            "mine",
            "breached",
            "attention",
        ]

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        # The page passes the user; DRF's filter backend passes the request.
        self.user = user if user is not None else getattr(self.request, "user", None)

    def filter_search(self, queryset, name, value):
        return search_fields(queryset, value, ("number", "title", "channel_reference"))

    def filter_mine(self, queryset, name, value):
        if not value or self.user is None:
            return queryset
        return queryset.filter(Q(assignee=self.user) | Q(created_by=self.user))

    def filter_breached(self, queryset, name, value):
        if not value:
            return queryset
        return queryset.filter(pk__in=ServiceRequest.objects.breached().values("pk"))

    def filter_attention(self, queryset, name, value):
        if not value:
            return queryset
        return queryset.filter(pk__in=ServiceRequest.objects.needing_attention().values("pk"))


class ServiceRequestApiFilterSet(ServiceRequestFilterSet):
    """The list's filters, plus incremental sync for PSA tools. Not on the page: it is no sync,
    and a cursor that holds back the latest changes would only hide them there."""

    modified_since = ModifiedSinceFilter()

    class Meta(ServiceRequestFilterSet.Meta):
        fields = [*ServiceRequestFilterSet.Meta.fields, "modified_since"]


class SupportTopicFilterSet(PortalFilterSet):
    """The API's support-topic list (the topics page lists them all)."""

    category = django_filters.ChoiceFilter(choices=CategoryChoices.choices)
    active = django_filters.BooleanFilter(
        help_text="true: topics offered for new requests; false: retired ones."
    )
    modified_since = ModifiedSinceFilter()

    class Meta:
        model = SupportTopic
        fields = ["category", "active", "modified_since"]
