"""The incidents list's filters (state, classification, status, service, customer and search),
one set for the page and the API, which adds incremental sync."""

import django_filters
from django.utils.translation import gettext_lazy as _

from core.filters import PortalFilterSet, search_fields
from core.incremental import ModifiedSinceFilter
from incidents.models import AffectedCustomer, Incident


class IncidentStateChoices:
    ACTIVE = "active"
    RESOLVED = "resolved"
    choices = [(ACTIVE, _("Active")), (RESOLVED, _("Resolved"))]


class IncidentFilterSet(PortalFilterSet):
    q = django_filters.CharFilter(
        method="filter_search", label=_("Search"), help_text=_("Id, title or impact.")
    )
    state = django_filters.ChoiceFilter(
        choices=IncidentStateChoices.choices, method="filter_state", label=_("State")
    )
    # Plain text, not choices: Microsoft adds values (unknownFutureValue) and they stay findable.
    classification = django_filters.CharFilter(label=_("Classification"))
    status = django_filters.CharFilter(label=_("Status"))
    service = django_filters.CharFilter(label=_("Service"))
    customer = django_filters.UUIDFilter(
        method="filter_customer", label=_("Customer"), help_text=_("The customer's tenant id.")
    )

    class Meta:
        model = Incident
        fields = ["q", "state", "classification", "status", "service", "customer"]

    def filter_search(self, queryset, name, value):
        return search_fields(queryset, value, ("microsoft_id", "title", "impact_description"))

    def filter_state(self, queryset, name, value):
        return queryset.filter(is_resolved=value == IncidentStateChoices.RESOLVED)

    def filter_customer(self, queryset, name, value):
        # A subquery, not a join: the list's affected-customer count must stay the full count.
        affected = AffectedCustomer.objects.filter(customer__tenant_id=value)
        return queryset.filter(pk__in=affected.values("incident_id"))


class IncidentApiFilterSet(IncidentFilterSet):
    """The list's filters, plus incremental sync for PSA tools. Not on the page: it is no sync,
    and a cursor that holds back the latest changes would only hide them there."""

    modified_since = ModifiedSinceFilter()

    class Meta(IncidentFilterSet.Meta):
        fields = [*IncidentFilterSet.Meta.fields, "modified_since"]
