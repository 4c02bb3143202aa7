"""Changes to feed sources, each in one transaction with its audit entry.

The client secret is write-only: it is encrypted on the row and never appears in an audit entry,
a log line or a response. The audit log records only that a secret is set or was changed.
"""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core import audit
from core.outbound import check_outbound_url
from outbound.urlguard import PlaceholderError, UnsafeURL, fill_tenant_id, same_origin
from servicehealth.models import FeedSource

FEED_SOURCE_FIELDS = (
    "name",
    "customer",
    "tenant_id",
    "base_url",
    "token_url",
    "client_id",
    "poll_interval_seconds",
    "enabled",
    "auth_mode",
)
# Fields whose change asks for the outbound URLs to be checked again.
URL_FIELDS = {"base_url", "token_url", "tenant_id"}
# Markers the audit log holds instead of the secret.
SECRET_SET = "set"  # noqa: S105 - a marker, not a secret
SECRET_CHANGED = "changed"  # noqa: S105 - a marker, not a secret


def feed_source_snapshot(source):
    """The source as the audit log shows it: plain values, and never the secret itself."""
    data = {field: getattr(source, field) for field in FEED_SOURCE_FIELDS if field != "customer"}
    data["tenant_id"] = str(source.tenant_id) if source.tenant_id else ""
    data["customer"] = str(source.customer.tenant_id) if source.customer_id else None
    data["client_secret"] = SECRET_SET if source.client_secret_encrypted else ""
    return data


def token_url_for(source):
    """The token URL with ``{tenant_id}`` filled in, as the feed client will call it."""
    return fill_tenant_id(source.token_url, source.tenant_id)


def _check_urls(source):
    errors = {}
    try:
        check_outbound_url(source.base_url)
    except UnsafeURL as exc:
        errors["base_url"] = str(exc)
    try:
        token_url = token_url_for(source)
    except PlaceholderError:
        errors["token_url"] = _("The only placeholder a token URL may hold is {tenant_id}.")
    else:
        try:
            check_outbound_url(token_url)
        except UnsafeURL as exc:
            errors["token_url"] = str(exc)
    return errors


def _validate(source, *, check_urls=True, secret_moved=False):
    """Model validation plus the rules that need the whole row; field errors where they belong.

    ``secret_moved``: the stored secret would now go to another host (see update_feed_source).
    """
    errors = {}
    try:
        source.full_clean()
    except ValidationError as exc:
        errors = exc.update_error_dict(errors)
    if source.through_connection:
        # The connection's app and URLs are used; nothing typed here is sent anywhere.
        check_urls = False
    else:
        if not source.client_id:
            errors["client_id"] = [_("A feed source added by hand needs its app's client id.")]
        if not source.client_secret_encrypted:
            errors["client_secret"] = [_("A feed source needs its client secret.")]
        elif secret_moved:
            errors["client_secret"] = [
                _("Enter the secret again: it is not sent to a new host without it.")
            ]
    wrong_tenant = (
        source.customer_id
        and source.tenant_id
        and "tenant_id" not in errors
        and str(source.customer.tenant_id) != str(source.tenant_id)
    )
    if wrong_tenant:
        errors["tenant_id"] = [
            _("A customer's feed reads that customer's tenant: use %(tenant_id)s.")
            % {"tenant_id": source.customer.tenant_id}
        ]
    if check_urls and not ({"base_url", "token_url", "tenant_id"} & set(errors)):
        for field, message in _check_urls(source).items():
            errors.setdefault(field, []).append(message)
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def create_feed_source(*, actor, request=None, client_secret=None, **fields):
    unknown = set(fields) - set(FEED_SOURCE_FIELDS)
    if unknown:
        raise TypeError(f"Unknown feed source fields: {', '.join(sorted(unknown))}")
    source = FeedSource(**fields)
    if not client_secret and not source.through_connection:
        raise ValidationError({"client_secret": _("A new feed source needs its client secret.")})
    if source.customer_id and not source.tenant_id:
        source.tenant_id = source.customer.tenant_id
    if client_secret:
        source.client_secret = client_secret
    _validate(source)
    source.next_poll_at = timezone.now()
    source.save()
    audit.record_change(
        actor, "feed_source.created", source, None, feed_source_snapshot(source), request
    )
    return source


def _secret_destinations(source):
    """Where the client secret goes (the token URL) and where the token it buys goes (the base
    URL)."""
    try:
        token_url = token_url_for(source)
    except ValueError:  # a placeholder _check_urls refuses: compare the URL as typed
        token_url = source.token_url
    return token_url, source.base_url


@transaction.atomic
def update_feed_source(source, *, actor, request=None, client_secret=None, **fields):
    """Change the given fields; an empty or missing ``client_secret`` keeps the current one.

    Not when the token URL or the base URL now points at another origin (scheme, host, port):
    whoever may edit the URLs could then send the stored secret, or the token it buys, to a
    host of their own. Such a change needs the secret typed again.
    """
    unknown = set(fields) - set(FEED_SOURCE_FIELDS)
    if unknown:
        raise TypeError(f"Unknown feed source fields: {', '.join(sorted(unknown))}")
    # of=("self",): PostgreSQL cannot lock the nullable side of the customer join.
    source = (
        FeedSource.objects.select_for_update(of=("self",))
        .select_related("customer")
        .get(pk=source.pk)
    )
    before = feed_source_snapshot(source)
    destinations = _secret_destinations(source)
    for field, value in fields.items():
        setattr(source, field, value)
    if source.customer_id and not source.tenant_id:
        source.tenant_id = source.customer.tenant_id
    if client_secret:
        source.client_secret = client_secret
    after = feed_source_snapshot(source)
    # Check the outbound URLs again only when what they resolve to may have changed, so a
    # change of interval does not depend on DNS answering right now.
    urls_changed = any(before[field] != after[field] for field in URL_FIELDS)
    secret_moved = not client_secret and not all(
        same_origin(new, old)
        for new, old in zip(_secret_destinations(source), destinations, strict=True)
    )
    _validate(source, check_urls=urls_changed, secret_moved=secret_moved)
    if client_secret:
        after["client_secret"] = SECRET_CHANGED
    if not before["enabled"] and source.enabled:
        source.next_poll_at = timezone.now()
    source.save()
    audit.record_save(actor, "feed_source.updated", source, before, after, request)
    return source
