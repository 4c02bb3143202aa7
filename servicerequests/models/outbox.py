"""The outbox rows (``core.outbox``) of service requests: a request's delivery to its channel,
and a note's delivery to the request Partner Center holds, each with its log of attempts."""

import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from servicerequests.choices import DeliveryStateChoices


def sweep_indexes(prefix):
    """The sweep's two queries: pending rows that are due, sending rows whose lease ran out."""
    return [
        models.Index(fields=["state", "next_attempt_at"], name=f"{prefix}_due"),
        models.Index(fields=["state", "lease_until"], name=f"{prefix}_lease"),
    ]


class OutboxRow(models.Model):
    """Written with what it sends, claimed by a worker under a lease, and sent with the same
    idempotency key on every attempt."""

    state = models.CharField(
        max_length=20, choices=DeliveryStateChoices.choices, default=DeliveryStateChoices.PENDING
    )
    idempotency_key = models.UUIDField(default=uuid.uuid4, editable=False)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    lease_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Set when the last attempt needed the partner's Microsoft connection (missing, or its token
    # refused): the row is sent again once the connection has been renewed after this.
    waiting_for_connection_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        constraints = [
            models.UniqueConstraint(
                fields=["idempotency_key"], name="%(app_label)s_%(class)s_unique_key"
            )
        ]


class AttemptRecord(models.Model):
    class Outcome(models.TextChoices):
        SUCCESS = "success", _("Delivered")
        TRANSIENT = "transient", _("Failed, will retry")
        PERMANENT = "permanent", _("Failed for good")

    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    # Each concrete record declares ``delivery``, the outbox row it is an attempt of.

    class Meta:
        abstract = True
        ordering = ["delivery_id", "number"]

    def __str__(self):
        return f"attempt {self.number}: {self.outcome}"


class Delivery(OutboxRow):
    """A service request on its way to its channel."""

    service_request = models.OneToOneField(
        "servicerequests.ServiceRequest", on_delete=models.CASCADE, related_name="delivery"
    )
    channel = models.ForeignKey(
        "servicerequests.Channel", on_delete=models.PROTECT, related_name="deliveries"
    )

    class Meta(OutboxRow.Meta):
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        indexes = sweep_indexes("servicerequests_delivery")

    def __str__(self):
        return f"{self.service_request.number} via {self.channel} ({self.state})"


def delivery_of(service_request):
    """The request's delivery (outbox) row, or None when it has none."""
    try:
        return service_request.delivery
    except Delivery.DoesNotExist:
        return None


class DeliveryAttempt(AttemptRecord):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")

    class Meta(AttemptRecord.Meta):
        verbose_name = _("delivery attempt")
        verbose_name_plural = _("delivery attempts")


class NoteDelivery(OutboxRow):
    """A note written in the portal on its way to the request Partner Center holds (``PATCH``
    with ``NewNote``). Claimed only once the request itself is delivered (it has Microsoft's
    reference)."""

    note = models.OneToOneField(
        "servicerequests.ServiceRequestNote", on_delete=models.CASCADE, related_name="delivery"
    )
    channel = models.ForeignKey(
        "servicerequests.Channel", on_delete=models.PROTECT, related_name="note_deliveries"
    )

    class Meta(OutboxRow.Meta):
        verbose_name = _("note delivery")
        verbose_name_plural = _("note deliveries")
        indexes = sweep_indexes("servicerequests_note")

    def __str__(self):
        return f"note {self.note_id} via {self.channel} ({self.state})"


class NoteDeliveryAttempt(AttemptRecord):
    delivery = models.ForeignKey(NoteDelivery, on_delete=models.CASCADE, related_name="attempt_log")

    class Meta(AttemptRecord.Meta):
        verbose_name = _("note delivery attempt")
        verbose_name_plural = _("note delivery attempts")
