"""Writing the audit log. Service functions call ``record`` inside their transaction.

Actions are named ``<object>.<verb>``: the object in snake case, then what happened to it in the
past tense (``webhook.created``, ``staff.roles_changed``, ``staff.mfa_reset``). One convention
lets the log be filtered and read without a glossary; ``record`` refuses any other shape.
"""

import re

from core.middleware import client_address, current_request_id
from core.models import AuditEntry

ACTION_NAME = re.compile(r"[a-z]+(?:_[a-z]+)*\.(?:[a-z]+_)*(?:[a-z]+ed|[a-z]*set|[a-z]*sent|run)")


def check_action(action):
    if not ACTION_NAME.fullmatch(action):
        raise ValueError(f"audit action {action!r} is not named <object>.<verb in the past tense>")
    return action


def client_ip(request):
    """The client's address (``core.middleware.client_address``); never anything but an IP."""
    if request is None:
        return None
    return client_address(request)


def _entry(actor, action, target, before, after, request, request_id):
    is_user = actor is not None and getattr(actor, "is_authenticated", False)
    return AuditEntry(
        actor=actor if is_user else None,
        actor_email=actor.email if is_user else "",
        action=action,
        target_type=target._meta.label_lower,
        target_id=str(target.pk),
        target_repr=str(target)[:255],
        before=before,
        after=after,
        ip_address=client_ip(request),
        request_id=request_id,
    )


def record(*, actor, action, target, before=None, after=None, request=None):
    """Append one entry. ``target`` is a model instance; ``before``/``after`` are plain dicts."""
    entry = _entry(
        actor, check_action(action), target, before, after, request, current_request_id() or ""
    )
    entry.save(force_insert=True)
    return entry


def record_change(actor, action, target, before, after, request=None):
    """Append an update's entry when ``before`` and ``after`` differ; return whether it did.

    Positional, so the usual "snapshot, change, save, snapshot, record" reads as one line: who,
    what, on which object, from, to.
    """
    if before == after:
        return False
    record_save(actor, action, target, before, after, request)
    return True


def record_save(actor, action, target, before, after, request=None):
    """Append an edit's entry even when ``before`` and ``after`` are the same: an admin saved the
    form (or sent the API's PUT or PATCH), and the log shows every save. Positional, as
    ``record_change``."""
    return record(
        actor=actor, action=action, target=target, before=before, after=after, request=request
    )


def record_many(*, actor, action, entries, request=None):
    """Append one entry per ``(target, before, after)`` in a single statement (bulk imports)."""
    check_action(action)
    request_id = current_request_id() or ""
    return AuditEntry.objects.bulk_create(
        [
            _entry(actor, action, target, before, after, request, request_id)
            for target, before, after in entries
        ],
        batch_size=500,
    )
