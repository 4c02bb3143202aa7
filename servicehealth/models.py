from datetime import timedelta

from django.core.validators import MinValueValidator
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.roles import Capability, CapabilityQuerySet
from core import crypto, leases
from core.models import SingletonModel
from incidents.status import status_label, status_severity


class Service(models.Model):
    """A Microsoft service as Graph names it (``id`` "Exchange", ``service`` "Exchange Online")."""

    graph_id = models.CharField(_("Graph id"), max_length=100)
    name = models.CharField(_("name"), max_length=200)
    modified_at = models.DateTimeField(_("modified"), auto_now=True)

    class Meta:
        verbose_name = _("service")
        verbose_name_plural = _("services")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["graph_id"], name="servicehealth_service_unique_graph_id"
            )
        ]
        indexes = [
            # Incremental sync: ?modified_since=… ordered by modification.
            models.Index(fields=["modified_at", "id"], name="servicehealth_service_modified"),
        ]

    def __str__(self):
        return self.name


class AuthMode(models.TextChoices):
    """How a feed source gets its Graph token."""

    # The partner's refresh token redeemed against the customer tenant: the partner user's GDAP
    # roles grant the access. What the portal creates for every customer it reaches.
    DELEGATED = "delegated", _("Partner delegated (GDAP)")
    # The partner's multi-tenant app with its own credentials in the customer tenant, once the
    # app is consented there.
    APP_PER_TENANT = "app_per_tenant", _("App-only per customer tenant")
    # An app registration of its own, typed in: for tenants outside GDAP.
    CLIENT_CREDENTIALS = "client_credentials", _("Client credentials (added by hand)")


# Through the partner's Microsoft connection: no client id or secret of their own.
CONNECTION_MODES = (AuthMode.DELEGATED, AuthMode.APP_PER_TENANT)


class AccessProblem(models.TextChoices):
    """Why Microsoft refused a tenant's feed, as an admin can act on it."""

    NONE = "", _("None")
    NEEDS_ROLE = (
        "needs_role",
        _("No access: needs the Service Support Administrator or Global Reader role"),
    )
    NEEDS_CONSENT = "needs_consent", _("Needs consent")


class FeedSourceQuerySet(CapabilityQuerySet):
    capability = Capability.MANAGE_INTEGRATIONS

    def due(self, now=None):
        """Enabled sources whose next poll is due and that no scheduler has queued recently."""
        return leases.due(self.filter(enabled=True), now or timezone.now())

    def through_connection(self):
        """Sources that read their tenant through the partner's Microsoft connection."""
        return self.filter(auth_mode__in=CONNECTION_MODES)


class FeedSource(leases.PolledWork):
    """One tenant's Microsoft Graph service-communications feed: the partner's own or a customer's.

    The row is the record of the polling work: ``queued_until`` stops two schedulers queueing it
    twice, ``lease_until`` stops two workers polling it at once, and both run out on their own if
    a message or a worker is lost.
    """

    name = models.CharField(_("name"), max_length=200)
    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="feed_sources",
        verbose_name=_("customer"),
        help_text=_("Empty for the partner's own tenant."),
    )
    tenant_id = models.UUIDField(_("tenant id"))
    auth_mode = models.CharField(
        _("access"),
        max_length=20,
        choices=AuthMode.choices,
        default=AuthMode.CLIENT_CREDENTIALS,
        help_text=_(
            "Through the partner's Microsoft connection (no credentials here), or an app "
            "registration of the tenant's own."
        ),
    )
    # For the connection's modes the Graph and token URLs and the app are the connection's.
    base_url = models.URLField(_("Graph base URL"), default="https://graph.microsoft.com/v1.0")
    token_url = models.CharField(
        _("token URL"),
        max_length=300,
        default="https://login.microsoftonline.com/{tenant_id}/oauth2/v2.0/token",
    )
    client_id = models.CharField(_("client id"), max_length=100, blank=True)
    # Fernet ciphertext (core.crypto); never shown back, never logged.
    client_secret_encrypted = models.TextField(editable=False, default="")
    poll_interval_seconds = models.PositiveIntegerField(
        _("poll interval (seconds)"), default=300, validators=[MinValueValidator(60)]
    )
    enabled = models.BooleanField(_("enabled"), default=True)

    needs_attention = models.BooleanField(
        _("needs attention"),
        default=False,
        help_text=_("The last error needs an admin: missing consent, role or a wrong secret."),
    )
    access_problem = models.CharField(
        _("access problem"),
        max_length=20,
        choices=AccessProblem.choices,
        blank=True,
        default=AccessProblem.NONE,
        editable=False,
    )
    # When the current run of failures began (the first failed poll after a success); how long
    # the tenant's data has been getting old.
    failing_since = models.DateTimeField(_("failing since"), null=True, blank=True, editable=False)
    # When the last poll ended, well or not: the end of a polling cycle (servicehealth.cycles).
    last_finished_at = models.DateTimeField(null=True, blank=True, editable=False)
    # lastModifiedDateTime of the newest issue seen: the next poll asks only for newer ones.
    issues_watermark = models.DateTimeField(null=True, blank=True, editable=False)
    # The digest of the last snapshot a poll applied (servicehealth.feeds.FeedSnapshot.digest):
    # an incremental read with the same digest learned nothing, and is compared with nothing.
    snapshot_digest = models.CharField(max_length=64, blank=True, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    modified_at = models.DateTimeField(_("modified"), auto_now=True)

    objects = FeedSourceQuerySet.as_manager()

    class Meta:
        verbose_name = _("feed source")
        verbose_name_plural = _("feed sources")
        ordering = ["name", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant_id"], name="servicehealth_feedsource_unique_tenant"
            )
        ]
        indexes = [
            # poll_due_sources: enabled sources by next poll time.
            models.Index(fields=["enabled", "next_poll_at"], name="servicehealth_source_due"),
            # Incremental sync: ?modified_since=… ordered by modification.
            models.Index(fields=["modified_at", "id"], name="servicehealth_source_modified"),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("servicehealth:feed_edit", kwargs={"pk": self.pk})

    client_secret = crypto.encrypted_text("client_secret_encrypted")

    @property
    def through_connection(self):
        return self.auth_mode in CONNECTION_MODES

    @property
    def is_failing(self):
        return self.consecutive_failures > 0

    @property
    def poll_interval(self):
        return timedelta(seconds=self.poll_interval_seconds)


class PollCycle(SingletonModel):
    """A single row (``get()``): sweeps over every enabled source read through the partner's
    connection, each from the first source due to the last one finished, so the Feeds page can
    say how long a full cycle takes (Graph's per-tenant limits make it grow with the number of
    customers). The current sweep, if one is running, and the last one that finished."""

    started_at = models.DateTimeField(_("current cycle started"), null=True, blank=True)
    sources = models.PositiveIntegerField(_("sources in the current cycle"), default=0)
    last_started_at = models.DateTimeField(_("last cycle started"), null=True, blank=True)
    last_finished_at = models.DateTimeField(_("last cycle finished"), null=True, blank=True)
    last_sources = models.PositiveIntegerField(_("sources in the last cycle"), default=0)
    last_failures = models.PositiveIntegerField(_("failed sources in the last cycle"), default=0)

    class Meta:
        verbose_name = _("polling cycle")
        verbose_name_plural = _("polling cycles")

    def __str__(self):
        return f"Polling cycles (last finished {self.last_finished_at or 'never'})"

    @property
    def last_duration(self):
        if self.last_started_at and self.last_finished_at:
            return self.last_finished_at - self.last_started_at
        return None


class TenantServiceHealth(models.Model):
    """A service's current status in one tenant, as its feed last said."""

    source = models.ForeignKey(FeedSource, on_delete=models.CASCADE, related_name="health")
    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="tenant_health")
    status = models.CharField(_("status"), max_length=40)
    updated_at = models.DateTimeField(_("since"), default=timezone.now)

    class Meta:
        verbose_name = _("tenant service health")
        verbose_name_plural = _("tenant service health")
        ordering = ["service__name"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "service"], name="servicehealth_tenantservicehealth_unique"
            )
        ]
        indexes = [
            # Incremental sync: ?modified_since=… compares and orders by the status's time.
            models.Index(fields=["updated_at", "id"], name="servicehealth_health_modified"),
        ]

    def __str__(self):
        return f"{self.service}: {self.status}"

    @property
    def status_label(self):
        return status_label(self.status)

    @property
    def severity(self):
        return status_severity(self.status)


class TenantServiceHealthChange(models.Model):
    """History: each change of a service's status in a tenant."""

    source = models.ForeignKey(FeedSource, on_delete=models.CASCADE, related_name="health_changes")
    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="+")
    previous_status = models.CharField(max_length=40, blank=True)
    status = models.CharField(max_length=40)
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("service health change")
        verbose_name_plural = _("service health changes")
        ordering = ["-changed_at", "-pk"]
        indexes = [
            # A customer's Health tab: the latest changes of its tenant.
            models.Index(fields=["source", "-changed_at"], name="servicehealth_change_recent"),
        ]

    def __str__(self):
        return f"{self.service}: {self.previous_status} → {self.status}"
