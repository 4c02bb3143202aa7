"""Background work on customers: CSV imports, and the state of the syncs from Microsoft."""

from datetime import timedelta

from django.db import models
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core import leases
from core.models import SingletonModel
from customers.choices import CustomerImportStatusChoices


class CustomerImport(models.Model):
    """A CSV upload of customers: checked row by row in the background, imported all or nothing.

    The row is the record of the work (the broker only wakes a worker): a worker claims it with
    a lease, and the sweep hands it to another worker if the lease runs out.
    """

    created_by = models.ForeignKey(
        "accounts.User", on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(_("uploaded"), auto_now_add=True)
    file_name = models.CharField(_("file"), max_length=255)
    csv_text = models.TextField()
    status = models.CharField(
        _("status"),
        max_length=20,
        choices=CustomerImportStatusChoices.choices,
        default=CustomerImportStatusChoices.PENDING,
    )
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    imported_count = models.PositiveIntegerField(default=0)
    # [{"line": 3, "column": "country", "message": "..."}], line 1 being the header.
    errors = models.JSONField(default=list, blank=True)
    failure = models.TextField(blank=True, help_text=_("Why the import stopped, if not a row."))
    lease_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("customer import")
        verbose_name_plural = _("customer imports")
        ordering = ["-created_at", "-pk"]
        indexes = [
            # The sweep: unfinished imports whose lease ran out.
            models.Index(fields=["status", "lease_until"], name="customers_import_due"),
        ]

    def __str__(self):
        return f"{self.file_name} ({self.get_status_display()})"

    def get_absolute_url(self):
        return reverse("customers:import_detail", kwargs={"pk": self.pk})

    @property
    def is_finished(self):
        return self.status in (
            CustomerImportStatusChoices.SUCCEEDED,
            CustomerImportStatusChoices.FAILED,
        )

    @property
    def percent(self):
        if not self.total_rows:
            return 100 if self.is_finished else 0
        return min(100, round(100 * self.processed_rows / self.total_rows))


# A request for a run that no worker took within this long is no longer shown as queued.
QUEUED_SHOWN_FOR = timedelta(minutes=15)


class SyncState(SingletonModel):
    """The one record of a sync from Microsoft: who holds it (lease), and how the last run went.

    A single row: a sync reads everything of the partner tenant at once, so two runs at the
    same time would only repeat each other; the lease makes the second one skip.
    """

    class Outcome(models.TextChoices):
        NEVER = "never", _("Never run")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        NOT_CONFIGURED = "not_configured", _("Not configured")

    lease_until = models.DateTimeField(null=True, blank=True)
    last_started_at = models.DateTimeField(null=True, blank=True)
    last_finished_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_outcome = models.CharField(max_length=20, choices=Outcome.choices, default=Outcome.NEVER)
    last_error = models.TextField(blank=True)
    needs_attention = models.BooleanField(
        default=False, help_text=_("The last failure needs an admin (consent, role, secret).")
    )
    consecutive_failures = models.PositiveIntegerField(default=0)
    last_summary = models.JSONField(default=dict, blank=True)

    class Meta:
        abstract = True

    @classmethod
    def claim(cls, lease, now=None, **fields):
        """Take the lease for ``lease`` (a timedelta) if it is free or ran out, setting
        ``fields`` too; False when another run holds it."""
        now = now or timezone.now()
        cls.get()
        return leases.take(cls.objects.filter(pk=1), now, lease, last_started_at=now, **fields)

    @classmethod
    def finish(cls, outcome, *, error="", attention=False, summary=None):
        """Record how the run went and let the lease go."""
        now = timezone.now()
        values = {
            "lease_until": None,
            "last_finished_at": now,
            "last_outcome": outcome,
            "last_error": error,
            "needs_attention": attention,
        }
        if outcome == cls.Outcome.SUCCEEDED:
            values.update(last_success_at=now, consecutive_failures=0, last_summary=summary or {})
        else:
            values["consecutive_failures"] = F("consecutive_failures") + 1
        cls.objects.filter(pk=1).update(**values)

    @property
    def is_running(self):
        return bool(self.lease_until and self.lease_until > timezone.now())


class GdapSyncState(SyncState):
    """The GDAP relationship sync's record (customers.gdap_sync)."""

    class Meta:
        verbose_name = _("GDAP sync state")
        verbose_name_plural = _("GDAP sync state")

    def __str__(self):
        return f"GDAP sync: {self.get_last_outcome_display()}"


class PartnerCenterSyncState(SyncState):
    """The customer sync's record (customers.partner_center_sync); each run's account is a
    CustomerSyncRun. ``queued_at``: someone asked for a run that has not started yet."""

    queued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("customer sync state")
        verbose_name_plural = _("customer sync state")

    def __str__(self):
        return f"Customer sync: {self.get_last_outcome_display()}"

    @property
    def is_queued(self):
        """Asked for and not started since (a lost message stops counting after a while)."""
        return bool(
            self.queued_at
            and (self.last_started_at is None or self.last_started_at < self.queued_at)
            and self.queued_at > timezone.now() - QUEUED_SHOWN_FOR
        )


class CustomerSyncRun(models.Model):
    """One run of the customer sync from Partner Center and Graph: what it added, changed and
    marked, or why it failed (then it changed nothing)."""

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    requested_by = models.ForeignKey(
        "accounts.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    started_at = models.DateTimeField(_("started"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.RUNNING
    )
    # Progress while running: customers read from Partner Center so far, of how many it listed.
    customers_read = models.PositiveIntegerField(default=0)
    customers_listed = models.PositiveIntegerField(default=0)
    added = models.PositiveIntegerField(_("added"), default=0)
    changed = models.PositiveIntegerField(_("changed"), default=0)
    marked = models.PositiveIntegerField(_("marked as removed"), default=0)
    unchanged = models.PositiveIntegerField(_("unchanged"), default=0)
    subscriptions_changed = models.PositiveIntegerField(default=0)
    # Names per outcome: {"added": [...], "changed": [{"name", "fields"}], "marked": [...],
    # "restored": [...], "skipped": [{"name", "reason"}], "tenant_access": [{"name", "error"}]}
    details = models.JSONField(default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("customer sync run")
        verbose_name_plural = _("customer sync runs")
        ordering = ["-started_at", "-pk"]
        indexes = [
            # The sync page's history, newest first.
            models.Index(fields=["-started_at", "-id"], name="customers_syncrun_recent"),
        ]

    def __str__(self):
        return f"Customer sync {self.started_at:%Y-%m-%d %H:%M} ({self.get_status_display()})"

    @property
    def percent(self):
        if self.status != self.Status.RUNNING:
            return 100
        if not self.customers_listed:
            return 0
        return min(99, round(100 * self.customers_read / self.customers_listed))
