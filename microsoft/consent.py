"""A partner admin's consent from the connection page: the authorization-code flow with PKCE.

``start`` keeps the PKCE verifier and a random ``state`` in the admin's session and returns
Microsoft's sign-in address; ``finish`` takes the answer Microsoft sends back to the callback,
checks that it belongs to the sign-in started in this session (same ``state``, not older than
``CONSENT_TIMEOUT``, the settings unchanged since), redeems the code and stores the refresh token.
The verifier never leaves the portal except to the token endpoint.
"""

import secrets
import time

from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext as _

from core import audit
from core.events import absolute_url
from core.outbound import transport
from microsoft.models import MicrosoftConnection
from microsoft.services import (
    SECRET_CHANGED,
    clear_access_tokens,
    locked_connection,
    snapshot,
    store_consent,
)
from outbound.entra import PARTNER_CENTER_SCOPE, EntraError, Pkce, authorize_url
from outbound.entra import redeem_authorization_code as redeem_code

SESSION_KEY = "microsoft_consent"
CONSENT_TIMEOUT = 15 * 60  # seconds from the start of a sign-in to its answer
# Microsoft's error description can be long and carries trace ids: its first line is enough.
DESCRIPTION_CHARS = 300


class ConsentError(Exception):
    """The sign-in did not give a refresh token; the text says why, for the admin."""


def redirect_uri():
    """The callback address, as registered on the app (the README lists it)."""
    return absolute_url(reverse("microsoft:consent_callback"))


def _settings_key(connection):
    """What the sign-in was started for: an answer for other settings is refused."""
    return [str(connection.tenant_id), connection.client_id, connection.login_url]


def start(session):
    """Begin a sign-in; returns the address to send the admin to."""
    connection = MicrosoftConnection.get()
    if not (connection.tenant_id and connection.client_id and connection.client_secret_encrypted):
        raise ConsentError(
            _("Save the partner tenant id, the client id and the client secret first.")
        )
    pkce, state = Pkce.new(), secrets.token_urlsafe(32)
    session[SESSION_KEY] = {
        "state": state,
        "verifier": pkce.verifier,
        "started": time.time(),
        "settings": _settings_key(connection),
    }
    try:
        return authorize_url(
            login_url=connection.login_url,
            tenant_id=connection.tenant_id,
            client_id=connection.client_id,
            redirect_uri=redirect_uri(),
            scope=PARTNER_CENTER_SCOPE,
            state=state,
            challenge=pkce.challenge,
        )
    except EntraError as exc:
        raise ConsentError(str(exc)) from None


def _pending(session, answer):
    """The sign-in this answer ends, taken out of the session (one answer per sign-in)."""
    pending = session.pop(SESSION_KEY, None)
    state = answer.get("state", "")
    if (
        not isinstance(pending, dict)
        or not state
        or not secrets.compare_digest(str(pending.get("state", "")), state)
    ):
        raise ConsentError(
            _("This answer does not belong to a sign-in started here. Start the sign-in again.")
        )
    if time.time() - float(pending.get("started", 0)) > CONSENT_TIMEOUT:
        raise ConsentError(_("The sign-in took too long. Start it again."))
    return pending


def finish(session, answer, *, actor, request=None):
    """End the sign-in with Microsoft's ``answer`` (the callback's query); stores the refresh
    token and returns the connection, or raises ``ConsentError`` having changed nothing."""
    pending = _pending(session, answer)
    if answer.get("error"):
        description = str(answer.get("error_description", "")).splitlines()
        raise ConsentError(
            _("Microsoft did not give consent (%(error)s): %(description)s")
            % {
                "error": str(answer["error"])[:100],
                "description": description[0][:DESCRIPTION_CHARS] if description else "",
            }
        )
    if not answer.get("code"):
        raise ConsentError(_("Microsoft's answer carried no authorization code."))
    connection = MicrosoftConnection.get()
    if pending.get("settings") != _settings_key(connection):
        raise ConsentError(
            _("The connection's settings changed during the sign-in. Start it again.")
        )
    try:
        tokens = redeem_code(
            transport(),
            login_url=connection.login_url,
            tenant_id=connection.tenant_id,
            client_id=connection.client_id,
            client_secret=connection.client_secret,
            code=answer["code"],
            redirect_uri=redirect_uri(),
            code_verifier=pending.get("verifier", ""),
            scope=PARTNER_CENTER_SCOPE,
        )
    except EntraError as exc:
        raise ConsentError(str(exc)) from None
    clear_access_tokens()
    with transaction.atomic():
        connection = locked_connection()
        before = snapshot(connection)
        store_consent(connection, tokens, PARTNER_CENTER_SCOPE)
        connection.save()
        after = {**snapshot(connection), "refresh_token": SECRET_CHANGED}
        audit.record_save(
            actor, "microsoft_connection.consented", connection, before, after, request
        )
    return connection
