"""Agents' actions on incidents. Each writes its audit entry in the same transaction."""

from django.db import transaction
from django.utils import timezone

from core import audit
from incidents.models import Acknowledgement, Incident, Snooze


@transaction.atomic
def acknowledge(incident, *, user, note="", request=None):
    acknowledgement = Acknowledgement.objects.create(incident=incident, user=user, note=note)
    # The API shows acknowledgements on the incident: a PSA syncing incidents must see this one.
    Incident.objects.filter(pk=incident.pk).update(modified_at=timezone.now())
    audit.record(
        actor=user,
        action="incident.acknowledged",
        target=incident,
        after={"note": note},
        request=request,
    )
    return acknowledgement


@transaction.atomic
def snooze(incident, *, user, until, request=None):
    """Hide the incident from this user's attention lists until ``until`` (None: wake it now)."""
    if until is None:
        Snooze.objects.filter(incident=incident, user=user).delete()
        audit.record(actor=user, action="incident.unsnoozed", target=incident, request=request)
        return None
    snoozed, _created = Snooze.objects.update_or_create(
        incident=incident, user=user, defaults={"until": until}
    )
    audit.record(
        actor=user,
        action="incident.snoozed",
        target=incident,
        after={"until": until.isoformat()},
        request=request,
    )
    return snoozed
