"""Graph's ``serviceHealthStatus`` vocabulary and how bad each status is.

Incidents and service health share it. It lives here, in the lower of the two apps: servicehealth
builds on incidents (its feed writes them), never the other way round.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from core.choices import label_for


class ServiceHealthStatusChoices(models.TextChoices):
    """Graph's ``serviceHealthStatus``; values it adds later are kept as sent."""

    SERVICE_OPERATIONAL = "serviceOperational", _("Operational")
    INVESTIGATING = "investigating", _("Investigating")
    RESTORING_SERVICE = "restoringService", _("Restoring service")
    VERIFYING_SERVICE = "verifyingService", _("Verifying service")
    SERVICE_RESTORED = "serviceRestored", _("Service restored")
    POST_INCIDENT_REVIEW_PUBLISHED = (
        "postIncidentReviewPublished",
        _("Post-incident review published"),
    )
    SERVICE_DEGRADATION = "serviceDegradation", _("Degradation")
    SERVICE_INTERRUPTION = "serviceInterruption", _("Interruption")
    EXTENDED_RECOVERY = "extendedRecovery", _("Extended recovery")
    FALSE_POSITIVE = "falsePositive", _("False positive")
    INVESTIGATION_SUSPENDED = "investigationSuspended", _("Investigation suspended")
    RESOLVED = "resolved", _("Resolved")
    MITIGATED_EXTERNAL = "mitigatedExternal", _("Mitigated (external)")
    MITIGATED = "mitigated", _("Mitigated")
    RESOLVED_EXTERNAL = "resolvedExternal", _("Resolved (external)")
    CONFIRMED = "confirmed", _("Confirmed")
    REPORTED = "reported", _("Reported")
    UNKNOWN_FUTURE_VALUE = "unknownFutureValue", _("Unknown")


# How bad a status is, for "worst status across customers". Unknown values rank as "degraded":
# shown, never hidden as healthy.
STATUS_SEVERITY = {
    "serviceInterruption": 5,
    "serviceDegradation": 4,
    "restoringService": 4,
    "extendedRecovery": 4,
    "investigating": 3,
    "confirmed": 3,
    "reported": 3,
    "verifyingService": 2,
    "mitigated": 1,
    "mitigatedExternal": 1,
    "investigationSuspended": 1,
    "serviceRestored": 0,
    "postIncidentReviewPublished": 0,
    "resolved": 0,
    "resolvedExternal": 0,
    "falsePositive": 0,
    "serviceOperational": 0,
}
UNKNOWN_SEVERITY = 3


def status_severity(status):
    return STATUS_SEVERITY.get(status, UNKNOWN_SEVERITY)


def status_label(status):
    return label_for(ServiceHealthStatusChoices, status)


def severity_level(severity):
    """The badge class for a severity: ok, warning or danger ("" when there is no data)."""
    if severity is None:
        return ""
    if severity == 0:
        return "ok"
    return "danger" if severity >= 4 else "warning"
