"""One filter set for the customer list page, its CSV export and the API."""

import django_filters
from django.utils.translation import gettext_lazy as _

from core.filters import ModelChoiceFilter, PortalFilterSet
from core.incremental import ModifiedSinceFilter
from customers.gdap import GdapStateChoices
from customers.models import Customer, CustomerRelationshipChoices, Tag

CUSTOMER_ORDERINGS = {
    "name": ("company_name", "pk"),
    "-name": ("-company_name", "-pk"),
    "country": ("country", "company_name", "pk"),
    "-country": ("-country", "company_name", "pk"),
    "access_until": ("gdap_access_until", "company_name", "pk"),
    "-access_until": ("-gdap_access_until", "company_name", "pk"),
    "modified": ("modified_at", "pk"),
    "-modified": ("-modified_at", "-pk"),
}


class CustomerFilterSet(PortalFilterSet):
    q = django_filters.CharFilter(
        method="filter_search",
        label=_("Search"),
        help_text=_("Company name, any domain or tenant id."),
    )
    relationship = django_filters.ChoiceFilter(
        choices=CustomerRelationshipChoices.choices, label=_("Relationship")
    )
    tag = ModelChoiceFilter(
        field_name="tags",
        queryset=Tag.objects.all(),
        to_field_name="name",
        label=_("Tag"),
    )
    gdap_state = django_filters.ChoiceFilter(
        choices=GdapStateChoices.choices,
        method="filter_gdap_state",
        label=_("Delegated access"),
    )
    # Strictly after, settled changes only (core.incremental).
    modified_since = ModifiedSinceFilter(label=_("Modified since"))

    class Meta:
        model = Customer
        fields = ["q", "relationship", "tag", "gdap_state", "modified_since"]

    def filter_search(self, queryset, name, value):
        return queryset.search(value)

    def filter_gdap_state(self, queryset, name, value):
        return queryset.with_gdap_state(value)


def filtered_customer(filterset, user):
    """The customer a list is narrowed to by its ``customer`` filter (a tenant id), if the user
    may see it; else None."""
    if not filterset.is_valid() or not filterset.form.cleaned_data.get("customer"):
        return None
    tenant_id = filterset.form.cleaned_data["customer"]
    return Customer.objects.visible_to(user).filter(tenant_id=tenant_id).first()
