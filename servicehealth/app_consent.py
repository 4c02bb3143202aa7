"""The app-only option: consent the partner's app in a customer tenant through Partner Center,
then read that tenant's health with the app's own client credentials.

``POST /v1/customers/{customer-tenant-id}/applicationconsents`` grants the partner's
multi-tenant app Graph's ``ServiceHealth.Read.All`` and ``ServiceMessage.Read.All`` application
permissions in the customer tenant (the partner's GDAP relationship allows it). A 409 means the
app is consented there already: the same outcome. Nothing changes on the source unless Partner
Center said yes.
"""

import uuid

from django.db import transaction
from django.utils.translation import gettext as _

from core import audit
from microsoft.clients import partner_center_client
from microsoft.services import NotConnected, connection_ready, get_connection
from outbound.partner_center import PartnerCenterError
from servicehealth.models import AccessProblem, AuthMode, FeedSource

# Microsoft Graph's application id, the same in every tenant.
GRAPH_APPLICATION_ID = "00000003-0000-0000-c000-000000000000"
GRAPH_APPLICATION_SCOPES = "ServiceHealth.Read.All,ServiceMessage.Read.All"


def consent_body(client_id):
    return {
        "applicationId": client_id,
        "applicationGrants": [
            {"enterpriseApplicationId": GRAPH_APPLICATION_ID, "scope": GRAPH_APPLICATION_SCOPES}
        ],
    }


def consent_and_read_app_only(source, *, actor, request=None):
    """Consent the app in ``source``'s tenant and switch the source to app-only reads. Raises
    ``PartnerCenterError`` (or ``NotConnected``/``EntraError`` for the token) having changed
    nothing."""
    if not connection_ready():
        raise NotConnected(_("Connect Microsoft first: Partner Center is asked as the partner."))
    client = partner_center_client()
    path = f"/v1/customers/{uuid.UUID(str(source.tenant_id))}/applicationconsents"
    try:
        client.request("POST", path, body=consent_body(get_connection().client_id))
    except PartnerCenterError as exc:
        if exc.status != 409:
            raise
    with transaction.atomic():
        locked = FeedSource.objects.select_for_update().get(pk=source.pk)
        before = {"auth_mode": locked.auth_mode}
        locked.auth_mode = AuthMode.APP_PER_TENANT
        locked.access_problem = AccessProblem.NONE
        locked.save(update_fields=["auth_mode", "access_problem", "modified_at"])
        audit.record_change(
            actor,
            "feed_source.app_consented",
            locked,
            before,
            {"auth_mode": locked.auth_mode, "tenant_id": str(locked.tenant_id)},
            request,
        )
    return locked
