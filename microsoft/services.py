"""Connecting the partner tenant and keeping its refresh token alive.

The refresh token lasts 90 days from its last redemption, and each redemption returns a newer
one: ``redeem_refresh_token`` stores the newest (weekly on beat, and whenever ``access_token``
is asked for a token this process does not hold). A revoked or expired token marks the
connection broken and tells the Global admins once; a transient failure only records the error.

``access_token(scope, tenant_id=customer)`` redeems the partner's refresh token against a
customer tenant: the partner user's GDAP roles there grant the access. That tenant refusing
(no relationship, no consent) is the customer's problem, recorded by the caller; only a dead
refresh token breaks the connection.
"""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core import audit
from core.outbound import transport
from microsoft import notices
from microsoft.models import REFRESH_TOKEN_LIFETIME, MicrosoftConnection
from outbound.entra import PARTNER_CENTER_SCOPE, EntraError, RedeemedTokens
from outbound.entra import redeem_refresh_token as redeem
from outbound.tokens import AccessTokens
from outbound.urlguard import same_origin

# What the audit log shows for a secret that was set: never the secret.
SECRET_CHANGED = "changed"  # noqa: S105 - a marker, not a secret
SETTINGS_FIELDS = ("tenant_id", "client_id", "login_url", "graph_url", "partner_center_url")


class NotConnected(Exception):
    """No refresh token is stored (a partner admin has not consented yet), or it is broken."""


# By (tenant, scope). The partner's own are held under its tenant id and under None (asked for
# without a tenant), so a cached token is found without reading the connection's row.
_access_tokens = AccessTokens()


def _partner_keys(connection, scope):
    return [(None, scope), (str(connection.tenant_id), scope)]


def get_connection():
    return MicrosoftConnection.get()


def connection_ready():
    """Whether the portal can act as the partner: consented, and not broken."""
    return MicrosoftConnection.objects.filter(
        pk=1, state=MicrosoftConnection.State.CONNECTED
    ).exists()


def clear_access_tokens():
    _access_tokens.clear()


def forget_access_token(scope, tenant_id=None):
    """Drop the token held for ``scope`` (in ``tenant_id``): the API refused it (401), so the
    next call redeems a new one. Other tenants' tokens are kept."""
    connection = get_connection()
    partner = tenant_id is None or str(tenant_id) == str(connection.tenant_id)
    for key in _partner_keys(connection, scope) if partner else [(str(tenant_id), scope)]:
        _access_tokens.forget(key)


def snapshot(connection):
    """The connection's settings and state for the audit log: no secret."""
    data = {name: str(getattr(connection, name) or "") for name in SETTINGS_FIELDS}
    data["state"] = connection.state
    return data


URL_FIELDS = ("login_url", "graph_url", "partner_center_url")


def hosts_moved(connection, settings):
    """Whether any of the URLs the secret or the tokens are sent to moves to another host."""
    return any(
        not same_origin(settings[name], getattr(connection, name) or settings[name])
        for name in URL_FIELDS
    )


def secret_needed(connection, settings):
    """Whether saving these settings needs the client secret typed again: none is stored yet,
    or a URL moves to another host (the stored secret and tokens were given for the old ones)."""
    return not connection.client_secret_encrypted or hosts_moved(connection, settings)


def locked_connection():
    MicrosoftConnection.get()
    return MicrosoftConnection.objects.select_for_update().get(pk=1)


def _redeem(settings, client_secret, refresh_token, scope):
    return redeem(
        transport(),
        login_url=settings["login_url"],
        tenant_id=settings["tenant_id"],
        client_id=settings["client_id"],
        client_secret=client_secret,
        refresh_token=refresh_token,
        scope=scope,
    )


def store_consent(connection, tokens, scope):
    now = timezone.now()
    connection.refresh_token = tokens.refresh_token
    connection.last_redeemed_at = now
    connection.refresh_expires_at = now + REFRESH_TOKEN_LIFETIME
    connection.state = MicrosoftConnection.State.CONNECTED
    connection.last_error, connection.last_error_at = "", None
    for key in _partner_keys(connection, scope):
        _access_tokens.put(key, tokens.access_token, tokens.expires_in)


def _forget_consent(connection):
    connection.refresh_token = ""
    connection.state = MicrosoftConnection.State.NOT_CONNECTED
    connection.last_redeemed_at = connection.refresh_expires_at = None
    connection.last_error, connection.last_error_at = "", None


def connect(
    *,
    actor,
    tenant_id,
    client_id,
    client_secret,
    refresh_token=None,
    login_url=None,
    graph_url=None,
    partner_center_url=None,
    request=None,
):
    """Store the app's settings and secrets. With a refresh token, redeem it once first to
    prove them all: a refusal raises ``EntraError`` and stores nothing. Without one, the
    connection waits for a partner admin's consent (``not_connected``)."""
    defaults = {f.name: f.default for f in MicrosoftConnection._meta.concrete_fields}
    settings = {
        "tenant_id": str(tenant_id),
        "client_id": client_id,
        "login_url": login_url or defaults["login_url"],
        "graph_url": graph_url or defaults["graph_url"],
        "partner_center_url": partner_center_url or defaults["partner_center_url"],
    }
    tokens = None
    if refresh_token:
        tokens = _redeem(settings, client_secret, refresh_token, PARTNER_CENTER_SCOPE)
    clear_access_tokens()
    with transaction.atomic():
        connection = locked_connection()
        before = snapshot(connection)
        for name, value in settings.items():
            setattr(connection, name, value)
        connection.client_secret = client_secret
        if tokens is None:
            _forget_consent(connection)
        else:
            store_consent(connection, tokens, PARTNER_CENTER_SCOPE)
        connection.save()
        after = {**snapshot(connection), "client_secret": SECRET_CHANGED}
        if tokens is not None:
            after["refresh_token"] = SECRET_CHANGED
        audit.record_save(
            actor, "microsoft_connection.connected", connection, before, after, request
        )
    return connection


def update_settings(*, actor, settings, client_secret=None, request=None):
    """Save the settings from the page. Another tenant, client or login host drops the stored
    refresh token: it was given for the old ones and is never sent anywhere else."""
    clear_access_tokens()
    with transaction.atomic():
        connection = locked_connection()
        before = snapshot(connection)
        if secret_needed(connection, settings) and not client_secret:
            raise ValueError("The client secret is needed for these settings.")
        identity_changed = (
            str(connection.tenant_id or "") != str(settings["tenant_id"])
            or connection.client_id != settings["client_id"]
            or hosts_moved(connection, settings)
        )
        for name in SETTINGS_FIELDS:
            setattr(connection, name, settings[name])
        if client_secret:
            connection.client_secret = client_secret
        if identity_changed:
            _forget_consent(connection)
        connection.save()
        after = snapshot(connection)
        if client_secret:
            after["client_secret"] = SECRET_CHANGED
        audit.record_change(
            actor, "microsoft_connection.updated", connection, before, after, request
        )
    return connection


def _record_failure(connection, error):
    """Record ``error``; a permanent one breaks the connection. Returns whether it just broke."""
    connection.last_error = str(error)
    connection.last_error_at = timezone.now()
    fields = ["last_error", "last_error_at", "modified_at"]
    newly_broken = False
    if not error.retryable and connection.state != MicrosoftConnection.State.BROKEN:
        connection.state = MicrosoftConnection.State.BROKEN
        fields.append("state")
        newly_broken = True
    connection.save(update_fields=fields)
    return newly_broken


def redeem_refresh_token(*, scope=PARTNER_CENTER_SCOPE, actor=None, request=None):
    """Redeem the stored refresh token for ``scope`` and store the new one, in one transaction.

    Returns the ``RedeemedTokens``; raises ``NotConnected``, or the ``EntraError`` after
    recording it (a permanent one marks the connection broken and emails the Global admins
    once). ``actor``: the person who asked ("Redeem now"), audited; None on schedule.
    """
    failure = None
    with transaction.atomic():
        connection = locked_connection()
        if not connection.refresh_token_encrypted:
            failure = NotConnected(
                _("No refresh token is stored: the partner has not consented yet.")
            )
        else:
            settings = snapshot(connection)
            try:
                tokens = _redeem(
                    settings, connection.client_secret, connection.refresh_token, scope
                )
            except EntraError as exc:
                failure = exc
                if _record_failure(connection, exc):
                    transaction.on_commit(notices.connection_broken)
            else:
                store_consent(connection, tokens, scope)
                connection.save()
        if actor is not None:
            audit.record(
                actor=actor,
                action="microsoft_connection.redeemed",
                target=connection,
                after={"state": connection.state, "error": str(failure or "")},
                request=request,
            )
    if failure is not None:
        raise failure
    return tokens


def access_token(scope=PARTNER_CENTER_SCOPE, *, tenant_id=None):
    """An access token for ``scope`` in the partner tenant, or in the customer tenant
    ``tenant_id``: the one this process holds until shortly before it expires, else a new one.
    Raises ``NotConnected`` or ``EntraError``."""
    key = (str(tenant_id) if tenant_id is not None else None, scope)
    held = _access_tokens.get(key)
    if held:
        return held
    connection = MicrosoftConnection.get()
    if tenant_id is None or str(tenant_id) == str(connection.tenant_id):
        return redeem_refresh_token(scope=scope).access_token
    if connection.state != MicrosoftConnection.State.CONNECTED:
        raise NotConnected(
            _("The Microsoft connection is not connected: %(state)s.")
            % {"state": connection.get_state_display()}
        )
    tokens = _redeem_for_tenant(connection, str(tenant_id), scope)
    _access_tokens.put(key, tokens.access_token, tokens.expires_in)
    return tokens.access_token


def _redeem_for_tenant(connection, tenant_id, scope) -> RedeemedTokens:
    """The partner's refresh token redeemed in a customer tenant. The newer refresh token it
    returns is not stored: the weekly redemption keeps the consent alive, and polls of many
    tenants at once would otherwise all queue on the one connection row."""
    settings = {**snapshot(connection), "tenant_id": tenant_id}
    try:
        return _redeem(settings, connection.client_secret, connection.refresh_token, scope)
    except EntraError as exc:
        if exc.refresh_token_dead:
            with transaction.atomic():
                if _record_failure(locked_connection(), exc):
                    transaction.on_commit(notices.connection_broken)
        raise
