"""The daily leaver check: every portal account linked to Entra ID is looked up in Graph
(``users/{id}``, through the partner's Microsoft connection). Someone disabled
(``accountEnabled`` false) or removed (404) is deactivated, their API tokens deleted and their
sessions ended. Someone who merely lost their role is refused at their next sign-in
(``sso.services.admit``).

A sweep that cannot run (sign-in with Microsoft off, no connection) records why and changes
nobody; one that cannot reach Graph for someone leaves that person as they are.
"""

import json
import logging
from urllib.parse import quote

from allauth.socialaccount.models import SocialAccount
from allauth.usersessions.models import UserSession
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from knox.models import AuthToken

from accounts.services import staff_snapshot
from core import audit
from core.outbound import transport
from microsoft.services import NotConnected, access_token, connection_ready, get_connection
from outbound.entra import GRAPH_SCOPE, EntraError
from outbound.transport import TransportError, read_at_most
from sso.models import SsoSettings
from sso.oidc import PROVIDER_ID

logger = logging.getLogger(__name__)
# A Graph user is a few hundred bytes with $select.
MAX_USER_BYTES = 64 * 1024


class _Unknown(Exception):
    """Graph could not say whether this person is still there."""


def _entra_state(graph_url, token, object_id):
    """ "enabled", "disabled" or "removed" for the Entra user ``object_id``."""
    url = f"{graph_url.rstrip('/')}/v1.0/users/{quote(object_id, safe='')}"
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    try:
        response = transport().request(
            "GET", url, headers=headers, params={"$select": "id,accountEnabled"}
        )
    except TransportError as exc:
        if exc.status_code == 404:
            return "removed"
        raise _Unknown(exc.describe("Microsoft Graph")) from None
    body, _more = read_at_most(response, MAX_USER_BYTES)
    try:
        enabled = json.loads(body).get("accountEnabled")
    except ValueError:
        raise _Unknown("Microsoft Graph answered with something other than JSON.") from None
    return "disabled" if enabled is False else "enabled"


@transaction.atomic
def deactivate_leaver(user, state):
    """Deactivate ``user`` (gone from Entra ID): no sign-in, no API token, no session."""
    before = staff_snapshot(user)
    user.is_active = False
    user.save(update_fields=["is_active"])
    tokens = AuthToken.objects.filter(user=user).delete()[0]
    for session in UserSession.objects.filter(user=user):
        session.end()
    after = {**staff_snapshot(user), "entra": state, "api_tokens_deleted": tokens}
    audit.record_save(None, "staff.sso_deactivated", user, before, after)


def _record(settings, result):
    settings.last_sweep_at = timezone.now()
    settings.last_sweep_result = result
    settings.save(update_fields=["last_sweep_at", "last_sweep_result", "modified_at"])
    logger.info("leaver check: %s", result)
    return result


def sweep():
    """Check every active account linked to Entra ID; returns the recorded outcome."""
    settings = SsoSettings.get()
    if not settings.enabled:
        return _record(settings, _("Skipped: sign-in with Microsoft is off."))
    if not connection_ready():
        return _record(settings, _("Skipped: the Microsoft connection is not ready."))
    try:
        token = access_token(GRAPH_SCOPE)
    except (NotConnected, EntraError) as exc:
        return _record(settings, _("Skipped: %(error)s") % {"error": exc})
    graph_url = get_connection().graph_url
    accounts = SocialAccount.objects.filter(provider=PROVIDER_ID, user__is_active=True)
    checked, deactivated, unknown = 0, 0, []
    for account in accounts.select_related("user").order_by("pk"):
        checked += 1
        try:
            state = _entra_state(graph_url, token, account.uid)
        except _Unknown as exc:
            unknown.append(str(exc))
            continue
        if state != "enabled":
            deactivate_leaver(account.user, state)
            deactivated += 1
    result = _("%(checked)d checked, %(deactivated)d deactivated.") % {
        "checked": checked,
        "deactivated": deactivated,
    }
    if unknown:
        result += " " + _("%(count)d could not be checked: %(error)s") % {
            "count": len(unknown),
            "error": unknown[0],
        }
    return _record(settings, result)
