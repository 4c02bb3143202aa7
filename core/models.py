import uuid

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class SingletonModel(models.Model):
    """A model of one row (pk 1), made on first read: a setting or a state of the whole portal."""

    class Meta:
        abstract = True

    @classmethod
    def get(cls):
        row, _created = cls.objects.get_or_create(pk=1)
        return row


class AppendOnlyError(Exception):
    pass


class AuditEntryQuerySet(models.QuerySet):
    # The audit log is append-only: nothing in the app may rewrite or remove history.
    def update(self, **kwargs):
        raise AppendOnlyError("Audit entries cannot be changed.")

    def delete(self):
        raise AppendOnlyError("Audit entries cannot be deleted.")


class AuditEntry(models.Model):
    """Who changed what, when, from where, with the values before and after."""

    created_at = models.DateTimeField(_("time"), auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("actor"),
    )
    # Kept beside the foreign key so the entry still names the actor after changes to the user.
    actor_email = models.CharField(_("actor email"), max_length=254, blank=True)
    action = models.CharField(_("action"), max_length=64)
    target_type = models.CharField(_("object type"), max_length=64)
    target_id = models.CharField(_("object id"), max_length=64, blank=True)
    target_repr = models.CharField(_("object"), max_length=255, blank=True)
    before = models.JSONField(_("before"), null=True, blank=True, encoder=DjangoJSONEncoder)
    after = models.JSONField(_("after"), null=True, blank=True, encoder=DjangoJSONEncoder)
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    request_id = models.CharField(_("request id"), max_length=64, blank=True)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit entries")
        ordering = ["-created_at", "-pk"]
        indexes = [
            # "What happened to this object": the audit log filtered by object.
            models.Index(fields=["target_type", "target_id"], name="core_audit_target"),
            # The audit log filtered by action, newest first.
            models.Index(fields=["action", "-created_at"], name="core_audit_action_time"),
        ]

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_email} {self.action}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise AppendOnlyError("Audit entries cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Audit entries cannot be deleted.")

    @property
    def changes(self):
        """``(field, before, after)`` for each value that differs, for display."""
        before, after = self.before or {}, self.after or {}
        return [
            (key, before.get(key), after.get(key))
            for key in sorted(set(before) | set(after))
            if before.get(key) != after.get(key)
        ]


class WorkerHeartbeat(models.Model):
    """The last time a worker consuming ``queue`` ran the heartbeat task (a broker round trip)."""

    queue = models.CharField(_("queue"), max_length=64, primary_key=True)
    last_seen = models.DateTimeField(_("last seen"))
    hostname = models.CharField(_("worker"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("worker heartbeat")
        verbose_name_plural = _("worker heartbeats")
        ordering = ["queue"]

    def __str__(self):
        return f"{self.queue} @ {self.last_seen:%H:%M:%S}"


class EventTypeChoices(models.TextChoices):
    INCIDENT_CREATED = "incident.created", _("Incident affects a customer")
    INCIDENT_UPDATED = "incident.updated", _("Incident updated")
    INCIDENT_RESOLVED = "incident.resolved", _("Incident resolved")
    FEED_FAILING = "feed.failing", _("Feed source failing")
    SERVICE_REQUEST_CREATED = "servicerequest.created", _("Service request opened")
    SERVICE_REQUEST_STATUS_CHANGED = (
        "servicerequest.status_changed",
        _("Service request status changed"),
    )
    CUSTOMER_UPDATED = "customer.updated", _("Customer updated")
    GDAP_EXPIRING = "gdap.expiring", _("Delegated access expiring")


class Event(models.Model):
    """Something a PSA tool (webhooks) and the UI should hear about, recorded once.

    Written in the same transaction as the change it reports. ``consolidation_key`` is built
    from stable ids (``incident:EX123456:<tenant id>``) so a PSA can update one ticket per key.
    """

    event_id = models.UUIDField(_("event id"), default=uuid.uuid4, editable=False)
    type = models.CharField(_("type"), max_length=64, choices=EventTypeChoices.choices)
    occurred_at = models.DateTimeField(_("time"), default=timezone.now)
    tenant_id = models.UUIDField(_("customer tenant id"), null=True, blank=True)
    object_type = models.CharField(max_length=64)
    # As long as the longest id it carries: a GDAP relationship's Graph id is two GUIDs (73).
    object_id = models.CharField(max_length=100)
    object_url = models.CharField(max_length=255, blank=True)
    consolidation_key = models.CharField(max_length=255)
    summary = models.CharField(_("summary"), max_length=255)
    payload = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    # Set once the webhook fan-out has written this event's deliveries (integrations.fanout).
    fanned_out_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        ordering = ["-occurred_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["event_id"], name="core_event_unique_event_id"),
        ]
        indexes = [
            # The events list and webhook fan-out read them in time order, per type.
            models.Index(fields=["type", "occurred_at"], name="core_event_type_time"),
            models.Index(fields=["tenant_id", "occurred_at"], name="core_event_tenant_time"),
            # The fan-out's queue: events not yet turned into webhook deliveries.
            models.Index(
                fields=["id"],
                name="core_event_fanout_pending",
                condition=models.Q(fanned_out_at__isnull=True),
            ),
        ]

    def __str__(self):
        return f"{self.type} {self.consolidation_key}"
