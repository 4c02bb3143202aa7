"""The connection page's "test" buttons: one cheap call per API, as the partner.

Each probe answers with a ``ProbeResult`` for the page and records nothing: a failure here is
the admin's question answered, not the connection's state (the scheduled redemption keeps that).
"""

from dataclasses import dataclass

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.outbound import transport
from microsoft.services import NotConnected, access_token, get_connection, redeem_refresh_token
from outbound.entra import GRAPH_SCOPE, PARTNER_CENTER_SCOPE, EntraError
from outbound.transport import TransportError

# What each probe reads: the smallest call that proves the token opens the API.
PARTNER_CENTER_PATH = "/v1/servicerequests/supporttopics"
GRAPH_PATH = "/v1.0/tenantRelationships/delegatedAdminCustomers?$top=1"


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    message: str


class _ProbeFailed(Exception):
    """The API refused or could not be reached; the text says which and how."""


def _entra():
    redeem_refresh_token()
    return _("Entra ID redeemed the refresh token and returned a newer one.")


def _get(base_url, path, scope, api):
    token = access_token(scope)
    url = f"{base_url.rstrip('/')}{path}"
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    try:
        response = transport().request("GET", url, headers=headers)
    except TransportError as exc:
        raise _ProbeFailed(exc.describe(api)) from None
    response.close()
    return _("%(api)s answered %(status)s as the partner.") % {
        "api": api,
        "status": response.status_code,
    }


def _partner_center():
    connection = get_connection()
    return _get(
        connection.partner_center_url, PARTNER_CENTER_PATH, PARTNER_CENTER_SCOPE, "Partner Center"
    )


def _graph():
    connection = get_connection()
    return _get(connection.graph_url, GRAPH_PATH, GRAPH_SCOPE, "Microsoft Graph")


PROBES = {
    "entra": (gettext_lazy("Entra ID"), _entra),
    "partner_center": (gettext_lazy("Partner Center"), _partner_center),
    "graph": (gettext_lazy("Microsoft Graph"), _graph),
}


def run(name):
    """Run the probe ``name`` (a key of ``PROBES``)."""
    _label, probe = PROBES[name]
    try:
        return ProbeResult(True, probe())
    except (NotConnected, EntraError, _ProbeFailed) as exc:
        return ProbeResult(False, str(exc))
