"""Changes to support channels, routing rules and support topics, each in one transaction with its
audit entry.

A channel's credentials (a pasted Partner Center access token, webhook signing secret) are write-only: they
are encrypted on the row and never appear in an audit entry, a log line or a response. The audit
log records only which of them are set, and which one a change replaced.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, URLValidator
from django.db import transaction
from django.utils.translation import gettext as _

from core import audit
from core.outbound import http_url_error
from outbound import signing
from outbound.urlguard import same_origin
from servicerequests.models import Channel, RoutingRule, SupportTopic

CHANNEL_FIELDS = ("name", "kind", "category", "tier", "endpoint", "enabled")
RULE_FIELDS = (
    "position",
    "name",
    "category",
    "severity",
    "support_topic",
    "customer_tag",
    "channel",
    "enabled",
)
TOPIC_FIELDS = ("name", "description", "category", "partner_center_id", "active")

# The secret each kind takes; a kind missing here takes none.
CREDENTIALS = {
    "partner_center": "access_token",
    "webhook": "signing_secret",
}
# Kinds that work without their secret: Partner Center uses the partner's Microsoft connection,
# and a pasted access token is only an explicit fallback.
OPTIONAL_CREDENTIALS = {"partner_center"}
# The kinds the portal connects to over HTTP: their endpoint is checked before it is stored.
HTTP_KINDS = {"partner_center", "webhook"}
# The least a signing secret the admin chooses may hold: it is the HMAC key that proves a status
# callback comes from the channel.
MIN_SIGNING_SECRET_BYTES = 24
# Markers the audit log holds instead of a secret.
SECRET_SET = "set"  # noqa: S105 - a marker, not a secret
SECRET_CHANGED = "changed"  # noqa: S105 - a marker, not a secret


def _unknown(fields, allowed, what):
    unknown = set(fields) - set(allowed)
    if unknown:
        raise TypeError(f"Unknown {what} fields: {', '.join(sorted(unknown))}")


# --- channels -------------------------------------------------------------------------------


def channel_snapshot(channel):
    """The channel as the audit log shows it: which credentials are set, never their values."""
    data = {field: getattr(channel, field) for field in CHANNEL_FIELDS}
    data["needs_attention"] = channel.needs_attention
    data["credentials"] = dict.fromkeys(sorted(channel.credentials), SECRET_SET)
    return data


def _check_endpoint(channel):
    """Errors for the endpoint, by kind: an address the portal may connect to, or an email."""
    endpoint = channel.endpoint
    if channel.kind in HTTP_KINDS:
        if not endpoint:
            return _("This kind of channel needs the URL to send requests to.")
        return http_url_error(endpoint)
    elif channel.kind == "email":
        if not endpoint:
            return _("An email channel needs the address to send requests to.")
        try:
            EmailValidator()(endpoint)
        except ValidationError:
            return _("Enter an email address.")
    elif endpoint:
        try:
            URLValidator(schemes=["http", "https"])(endpoint)
        except ValidationError:
            return _("Enter an http or https URL, or leave it empty for Partner Center's.")
    return None


def _typed_secret_errors(typed):
    """Errors for the secrets typed in: a signing secret that cannot key a signature, or too
    short to resist guessing (a ``whsec_`` secret is keyed by its decoded bytes)."""
    secret = typed.get("signing_secret")
    if not secret:
        return {}
    try:
        key = signing.signing_key(secret)
    except signing.SignatureError:
        return {"signing_secret": [_("The part after whsec_ must be base64.")]}
    if len(key) < MIN_SIGNING_SECRET_BYTES:
        return {
            "signing_secret": [
                _("A signing secret needs at least %(count)s bytes; use a long random one.")
                % {"count": MIN_SIGNING_SECRET_BYTES}
            ]
        }
    return {}


def _validate_channel(channel, *, check_endpoint=True, errors=None):
    """Model validation and the channel's rules; ``errors`` are the caller's, raised together."""
    errors = dict(errors or {})
    try:
        channel.full_clean()
    except ValidationError as exc:
        errors = exc.update_error_dict(errors)
    if check_endpoint and "endpoint" not in errors and "kind" not in errors:
        message = _check_endpoint(channel)
        if message:
            errors.setdefault("endpoint", []).append(message)
    needed = None if channel.kind in OPTIONAL_CREDENTIALS else CREDENTIALS.get(channel.kind)
    if needed and not channel.credentials.get(needed):
        errors.setdefault(needed, []).append(_("This kind of channel needs it."))
    if errors:
        raise ValidationError(errors)


def _credentials_for(kind, stored, typed):
    """The stored secrets with the typed ones replacing them, keeping only what ``kind`` uses."""
    keep = CREDENTIALS.get(kind)
    merged = {**stored, **{key: value for key, value in typed.items() if value}}
    return {key: value for key, value in merged.items() if key == keep}


@transaction.atomic
def create_channel(*, actor, request=None, credentials=None, **fields):
    _unknown(fields, CHANNEL_FIELDS, "channel")
    channel = Channel(**fields)
    typed = {key: value for key, value in (credentials or {}).items() if value}
    channel.set_credentials(_credentials_for(channel.kind, {}, typed))
    _validate_channel(channel, errors=_typed_secret_errors(typed))
    channel.save()
    audit.record_change(actor, "channel.created", channel, None, channel_snapshot(channel), request)
    return channel


@transaction.atomic
def update_channel(channel, *, actor, request=None, credentials=None, forget=(), **fields):
    """Change the given fields; a secret left empty keeps the stored one, unless its key is in
    ``forget`` (a Partner Center channel going back to the Microsoft connection).

    Not when the endpoint moves to another origin (scheme, host, port): whoever may edit the
    endpoint could then send the stored secret (or requests signed with it) to a host of their
    own. Such a change needs the secret typed again.

    A change of kind, endpoint or secret, or switching the channel back on, clears "needs
    attention": the admin has acted on what the last error said.
    """
    _unknown(fields, CHANNEL_FIELDS, "channel")
    channel = Channel.objects.select_for_update().get(pk=channel.pk)
    before = channel_snapshot(channel)
    for field, value in fields.items():
        setattr(channel, field, value)
    typed = {key: value for key, value in (credentials or {}).items() if value}
    kept = {key: value for key, value in channel.credentials.items() if key not in forget}
    channel.set_credentials(_credentials_for(channel.kind, kept, typed))
    endpoint_changed = before["kind"] != channel.kind or before["endpoint"] != channel.endpoint
    errors = _typed_secret_errors(typed)
    if not same_origin(channel.endpoint, before["endpoint"]):
        for key in channel.credentials.keys() - typed.keys():
            errors[key] = [_("Enter the secret again: it is not sent to a new host without it.")]
    # Check the endpoint again only when it may point elsewhere, so renaming a channel does not
    # depend on DNS answering right now.
    _validate_channel(channel, check_endpoint=endpoint_changed, errors=errors)
    forgotten = set(forget) & set(before["credentials"])
    if channel.needs_attention and (
        endpoint_changed or typed or forgotten or (channel.enabled and not before["enabled"])
    ):
        channel.needs_attention = False
        channel.last_error = ""
        channel.last_error_at = None
    channel.save()
    after = channel_snapshot(channel)
    for key in typed:
        if key in after["credentials"]:
            after["credentials"][key] = SECRET_CHANGED
    audit.record_save(actor, "channel.updated", channel, before, after, request)
    return channel


# --- routing rules --------------------------------------------------------------------------


def rule_snapshot(rule):
    data = {field: getattr(rule, field) for field in RULE_FIELDS if field not in {"channel"}}
    data["support_topic"] = rule.support_topic_id
    data["channel"] = rule.channel_id
    return data


@dataclass(frozen=True)
class _AuditedRows:
    """One kind of row the admin pages edit: its fields, its snapshot and its audit names."""

    model: type
    fields: tuple
    snapshot: Callable
    action: str  # the audit action's object, e.g. "routing_rule"
    what: str  # the kind in an unknown-field error

    def create(self, *, actor, request, fields):
        """Create a row from ``fields`` (checked and validated) with its audit entry."""
        _unknown(fields, self.fields, self.what)
        instance = self.model(**fields)
        instance.full_clean()
        instance.save()
        after = self.snapshot(instance)
        audit.record_change(actor, f"{self.action}.created", instance, None, after, request)
        return instance

    def update(self, instance, *, actor, request, fields):
        """Change ``fields`` of a locked copy of ``instance`` with its audit entry."""
        _unknown(fields, self.fields, self.what)
        instance = self.model.objects.select_for_update().get(pk=instance.pk)
        before = self.snapshot(instance)
        for field, value in fields.items():
            setattr(instance, field, value)
        instance.full_clean()
        instance.save()
        after = self.snapshot(instance)
        audit.record_save(actor, f"{self.action}.updated", instance, before, after, request)
        return instance


_RULES = _AuditedRows(RoutingRule, RULE_FIELDS, rule_snapshot, "routing_rule", "routing rule")


@transaction.atomic
def create_rule(*, actor, request=None, **fields):
    return _RULES.create(actor=actor, request=request, fields=fields)


@transaction.atomic
def update_rule(rule, *, actor, request=None, **fields):
    return _RULES.update(rule, actor=actor, request=request, fields=fields)


RULE_STEP = 10


@transaction.atomic
def move_rule(rule, direction, *, actor, request=None):
    """Swap the rule with its neighbour ("up" or "down"), then number all rules 10, 20, 30…

    Renumbering makes equal positions (two rules at 100) orderable. Returns the rule, or None
    when it is already first or last.
    """
    if direction not in ("up", "down"):
        raise ValueError(direction)
    rules = list(RoutingRule.objects.select_for_update().order_by("position", "pk"))
    index = next(i for i, candidate in enumerate(rules) if candidate.pk == rule.pk)
    other = index - 1 if direction == "up" else index + 1
    if not 0 <= other < len(rules):
        return None
    before = {"position": rules[index].position}
    rules[index], rules[other] = rules[other], rules[index]
    for number, candidate in enumerate(rules, start=1):
        position = number * RULE_STEP
        if candidate.position != position:
            candidate.position = position
            # auto_now is saved only when named: the API's incremental sync must see the move.
            candidate.save(update_fields=["position", "modified_at"])
    moved = rules[other]
    after = {"position": moved.position, "direction": direction}
    audit.record_save(actor, "routing_rule.moved", moved, before, after, request)
    return moved


# --- support topics -------------------------------------------------------------------------


def topic_snapshot(topic):
    return {field: getattr(topic, field) for field in TOPIC_FIELDS}


_TOPICS = _AuditedRows(SupportTopic, TOPIC_FIELDS, topic_snapshot, "support_topic", "support topic")


@transaction.atomic
def create_topic(*, actor, request=None, **fields):
    return _TOPICS.create(actor=actor, request=request, fields=fields)


@transaction.atomic
def update_topic(topic, *, actor, request=None, **fields):
    return _TOPICS.update(topic, actor=actor, request=request, fields=fields)
