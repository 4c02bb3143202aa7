"""``{% psa_companies customer %}``: the customer's company id in each active PSA connection.

A template tag rather than code in ``customers.views``, so the customers app keeps importing
nothing from the apps built on it: imports point one way, down the layers.
"""

from django import template

from accounts.roles import Capability
from integrations.models import PsaConnection

register = template.Library()


@register.inclusion_tag("integrations/_customer_psa_companies.html", takes_context=True)
def psa_companies(context, customer):
    mapped = dict(customer.psa_companies.values_list("psa_id", "company_id"))
    psas = PsaConnection.objects.filter(is_active=True).order_by("name", "pk")
    request = context.get("request")
    user = getattr(request, "user", None)
    return {
        "customer": customer,
        "rows": [(psa, mapped.get(psa.pk)) for psa in psas],
        "can_edit": user is not None and user.has_capability(Capability.MANAGE_CUSTOMERS),
    }
