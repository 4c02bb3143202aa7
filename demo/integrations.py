"""Demo PSA setup for `make run`: a PSA connection with a few customers' company ids, and a
webhook subscription to the bundled PSA receiver (``run_simulators``, port 8005)."""

import base64

from django.conf import settings
from django.db import transaction

from core.models import EventTypeChoices
from customers.models import Customer
from integrations.models import PsaCompanyMapping, PsaConnection, WebhookSubscription

PSA_RECEIVER_URL = "http://127.0.0.1:8005/hooks/portal"
# The simulator verifies with this secret; demo data only.
PSA_WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"demo-psa-webhook-secret!").decode()
COMPANY_IDS = {
    "contoso-lojistik.com.tr": "19283",
    "bogazicisaglik.com.tr": "19301",
    "anadolutekstil.com.tr": "19342",
}


@transaction.atomic
def load():
    if settings.PRODUCTION:
        raise RuntimeError("Demo data is never loaded in production.")
    psa, psa_created = PsaConnection.objects.get_or_create(
        name="ConnectWise PSA",
        defaults={"kind": "connectwise", "default_company_id": "CatchAll"},
    )
    mapped = 0
    for customer in Customer.objects.filter(default_domain__in=COMPANY_IDS):
        _mapping, created = PsaCompanyMapping.objects.get_or_create(
            customer=customer,
            psa=psa,
            defaults={"company_id": COMPANY_IDS[customer.default_domain]},
        )
        mapped += created
    subscription = WebhookSubscription.objects.filter(name="ConnectWise (simulator)").first()
    if subscription is None:
        subscription = WebhookSubscription(
            name="ConnectWise (simulator)",
            target_url=PSA_RECEIVER_URL,
            event_types=list(EventTypeChoices.values),
            psa=psa,
        )
        subscription.secret = PSA_WEBHOOK_SECRET
        subscription.save()
    return [
        f"PSA connections: {int(psa_created)} created; {mapped} company ids mapped; "
        f"webhook subscription to {PSA_RECEIVER_URL}."
    ]
