"""The service health filter sets, one per API list (the pages show these lists unfiltered)."""

import django_filters

from core.filters import PortalFilterSet
from core.incremental import ModifiedSinceFilter
from servicehealth.models import TenantServiceHealth


class ServiceFilterSet(PortalFilterSet):
    modified_since = ModifiedSinceFilter(field_name="last_change_at")


class HealthFilterSet(PortalFilterSet):
    customer = django_filters.UUIDFilter(
        field_name="source__customer__tenant_id", help_text="The customer's tenant id."
    )
    service = django_filters.CharFilter(
        field_name="service__graph_id", help_text="Graph's service id, e.g. `Exchange`."
    )
    status = django_filters.CharFilter(
        help_text="Graph's serviceHealthStatus, e.g. `serviceDegradation`."
    )
    # ``since``: a health row changes only when its status does.
    modified_since = ModifiedSinceFilter(field_name="updated_at")

    class Meta:
        model = TenantServiceHealth
        fields = ["customer", "service", "status", "modified_since"]
