"""The service request app's choice tables: Partner Center's severities (with their
first-response targets), categories, statuses and support plans, and the kinds of timeline entry
and delivery state."""

from datetime import timedelta

from django.db import models
from django.utils.translation import gettext_lazy as _


class SeverityChoices(models.TextChoices):
    """Partner Center's severities, with their first-response targets."""

    CRITICAL = "critical", _("Critical (production down)")
    MODERATE = "moderate", _("Moderate")
    MINIMAL = "minimal", _("Minimal")


RESPONSE_TARGETS = {
    SeverityChoices.CRITICAL: timedelta(hours=2),
    SeverityChoices.MODERATE: timedelta(hours=4),
    SeverityChoices.MINIMAL: timedelta(hours=8),
}


class CategoryChoices(models.TextChoices):
    COMMERCIAL = "commercial", _("Commercial (billing, subscriptions, licensing)")
    TECHNICAL = "technical", _("Technical")


class StatusChoices(models.TextChoices):
    """Partner Center's statuses, plus our own two for delivery."""

    PENDING_DELIVERY = "pending_delivery", _("Pending delivery")
    OPEN = "open", _("Open")
    ATTENTION_NEEDED = "attention_needed", _("Attention needed")
    CLOSED = "closed", _("Closed")
    DELIVERY_FAILED = "delivery_failed", _("Delivery failed")


class TierChoices(models.TextChoices):
    COMMERCIAL = "commercial", _("Commercial support")
    PREMIER = "premier", _("Premier Support for Partners")
    ADVANCED = "advanced", _("Advanced Support for Partners")
    SIGNATURE_CLOUD = "signature_cloud", _("Signature Cloud Support")


class TimelineKindChoices(models.TextChoices):
    CREATED = "created", _("Created")
    ROUTED = "routed", _("Routed")
    ATTEMPT = "attempt", _("Delivery attempt")
    DELIVERED = "delivered", _("Delivered")
    DELIVERY_FAILED = "delivery_failed", _("Delivery failed")
    RETRIED = "retried", _("Retry requested")
    STATUS_CHANGED = "status_changed", _("Status changed")
    NOTE = "note", _("Note")
    ASSIGNED = "assigned", _("Assigned")


class DeliveryStateChoices(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENDING = "sending", _("Sending")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Failed")
    MANUAL = "manual", _("Waiting for the agent to file it")
