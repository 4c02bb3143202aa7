"""The integrations' filter sets, one per list. The API filters with them; the pages list these
rows unfiltered, except a subscription's deliveries, which a page filters by state alone."""

import django_filters

from core.filters import IntegerFilter
from core.incremental import ModifiedSinceFilterSet
from integrations.models import (
    PsaCompanyMapping,
    PsaConnection,
    PsaKindChoices,
    WebhookDelivery,
    WebhookDeliveryStateChoices,
    WebhookSubscription,
)


class WebhookFilterSet(ModifiedSinceFilterSet):
    is_active = django_filters.BooleanFilter(help_text="Only active (or only inactive) ones.")

    class Meta:
        model = WebhookSubscription
        fields = ["is_active", "modified_since"]


class WebhookDeliveryFilterSet(ModifiedSinceFilterSet):
    subscription = IntegerFilter(
        field_name="subscription_id", help_text="A webhook subscription's id."
    )
    state = django_filters.ChoiceFilter(
        choices=WebhookDeliveryStateChoices.choices, help_text="Where the delivery stands."
    )
    event_type = django_filters.CharFilter(help_text="For example `incident.updated`.")

    class Meta:
        model = WebhookDelivery
        fields = ["subscription", "state", "event_type", "modified_since"]


class PsaConnectionFilterSet(ModifiedSinceFilterSet):
    kind = django_filters.ChoiceFilter(choices=PsaKindChoices.choices, help_text="The product.")
    is_active = django_filters.BooleanFilter(help_text="Only active (or only inactive) ones.")

    class Meta:
        model = PsaConnection
        fields = ["kind", "is_active", "modified_since"]


class PsaCompanyMappingFilterSet(ModifiedSinceFilterSet):
    customer = django_filters.UUIDFilter(
        field_name="customer__tenant_id", help_text="A customer's tenant id."
    )
    psa = IntegerFilter(field_name="psa_id", help_text="A PSA connection's id.")

    class Meta:
        model = PsaCompanyMapping
        fields = ["customer", "psa", "modified_since"]
