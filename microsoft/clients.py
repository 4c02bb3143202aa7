"""Partner Center and Graph clients that act as the partner, through the Microsoft connection.

Tokens come from ``microsoft.services.access_token``: the partner's App+User refresh token
redeemed for Partner Center, for Graph in the partner tenant (GDAP reads are delegated only), or
for Graph in a customer tenant, where the partner user's GDAP roles grant the access. Requests go
to the connection's own URLs, read at each call: a token is never sent to a host an admin typed
anywhere else.
"""

from django.conf import settings
from django.utils import translation

from core.outbound import graph_client, transport
from microsoft.services import NotConnected, access_token, forget_access_token, get_connection
from outbound.entra import GRAPH_SCOPE, PARTNER_CENTER_SCOPE, EntraError
from outbound.graph import GraphAuthError, GraphClient, GraphConnection, GraphError
from outbound.partner_center import PartnerCenterClient

# Partner Center's X-Locale for the portal's languages; anything else is sent as en-US.
PARTNER_CENTER_LOCALES = {"en": "en-US", "tr": "tr-TR"}
DEFAULT_LOCALE = "en-US"
# GraphAuthError.code when no consent is stored yet (or the connection is broken).
NOT_CONNECTED_CODE = "not_connected"


def partner_center_locale(language=None):
    """The X-Locale for ``language`` (default: the active one, else the portal's), e.g.
    ``tr`` -> ``tr-TR``."""
    code = (language or translation.get_language() or settings.LANGUAGE_CODE).lower()
    return PARTNER_CENTER_LOCALES.get(code.split("-")[0], DEFAULT_LOCALE)


def partner_center_client(*, token=None, forget_token=None, **kwargs):
    """Partner Center as the partner (App+User), at the connection's Partner Center URL.
    ``token``: another source of tokens (a channel's pasted fallback)."""
    kwargs.setdefault("locale", partner_center_locale())
    return PartnerCenterClient(
        get_connection().partner_center_url,
        transport=transport(),
        token=token or (lambda: access_token(PARTNER_CENTER_SCOPE)),
        forget_token=forget_token or (lambda: forget_access_token(PARTNER_CENTER_SCOPE)),
        **kwargs,
    )


class TenantRefused(GraphAuthError):
    """Entra ID refused the partner's token in this tenant; ``aadsts``: its numeric codes."""

    def __init__(self, message, *, aadsts=(), **kwargs):
        super().__init__(message, **kwargs)
        self.aadsts = frozenset(aadsts)


class PartnerGraphClient(GraphClient):
    """Graph as the partner user in ``connection.tenant_id`` (the partner's tenant or a
    customer's). Not consented yet is a ``GraphAuthError`` with ``NOT_CONNECTED_CODE``; Entra ID
    refusing the tenant is ``TenantRefused``; a transient failure a retryable ``GraphError``."""

    def _token(self):
        try:
            return access_token(GRAPH_SCOPE, tenant_id=self._tenant())
        except NotConnected as exc:
            raise GraphAuthError(str(exc), code=NOT_CONNECTED_CODE) from None
        except EntraError as exc:
            if exc.retryable:
                raise GraphError(
                    str(exc), status=exc.status, code=exc.code, retry_after=exc.retry_after
                ) from None
            raise TenantRefused(
                str(exc), status=exc.status, code=exc.code, aadsts=exc.aadsts
            ) from None

    def _forget_token(self):
        forget_access_token(GRAPH_SCOPE, tenant_id=self._tenant())

    def _tenant(self):
        return self.connection.tenant_id


def graph_connection(tenant_id=None, *, client_secret=""):
    """Where and as whom the partner reads Graph: the connection's URLs and app, in the partner
    tenant or in ``tenant_id``. ``client_secret`` only for app-only reads (client credentials
    of the partner's multi-tenant app); delegated tokens come from ``access_token``."""
    connection = get_connection()
    return GraphConnection(
        base_url=connection.graph_url.rstrip("/") + "/v1.0",
        token_url=connection.login_url.rstrip("/") + "/{tenant_id}/oauth2/v2.0/token",
        tenant_id=str(tenant_id or connection.tenant_id),
        client_id=connection.client_id,
        client_secret=client_secret,
    )


def graph_as_partner(tenant_id=None, **kwargs):
    """A Graph client as the partner user, in the partner tenant or in ``tenant_id``."""
    return graph_client(graph_connection(tenant_id), client_class=PartnerGraphClient, **kwargs)
