from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from accounts.roles import Capability, CapabilityQuerySet
from core.choices import label_for
from customers.models import CustomerLink, MicrosoftPost, link_options
from incidents.status import status_label, status_severity


class IncidentClassificationChoices(models.TextChoices):
    INCIDENT = "incident", _("Incident")
    ADVISORY = "advisory", _("Advisory")
    UNKNOWN_FUTURE_VALUE = "unknownFutureValue", _("Unknown")


class IncidentOriginChoices(models.TextChoices):
    MICROSOFT = "microsoft", _("Microsoft")
    THIRD_PARTY = "thirdParty", _("Third party")
    CUSTOMER = "customer", _("Customer")
    UNKNOWN_FUTURE_VALUE = "unknownFutureValue", _("Unknown")


# What Microsoft's feed states about an incident, beyond its id and ``details``: each poll writes
# these (servicehealth.polling) and the API serves them.
REPORTED_FIELDS = (
    "classification",
    "status",
    "title",
    "impact_description",
    "service",
    "feature",
    "feature_group",
    "origin",
    "is_resolved",
    "high_impact",
    "started_at",
    "ended_at",
    "last_modified_at",
)


class IncidentQuerySet(CapabilityQuerySet):
    capability = Capability.VIEW_SUPPORT

    def active(self):
        return self.filter(is_resolved=False)


class Incident(MicrosoftPost):
    """A Microsoft service health issue (incident or advisory), stored once however many tenants
    it hits; ``AffectedCustomer`` links it to each customer whose feed reported it."""

    classification = models.CharField(_("classification"), max_length=40)
    status = models.CharField(_("status"), max_length=40)
    impact_description = models.TextField(_("impact"), blank=True)
    service = models.CharField(_("service"), max_length=200)
    feature = models.CharField(_("feature"), max_length=200, blank=True)
    feature_group = models.CharField(_("feature group"), max_length=200, blank=True)
    origin = models.CharField(_("origin"), max_length=40, blank=True)
    is_resolved = models.BooleanField(_("resolved"), default=False)
    high_impact = models.BooleanField(_("high impact"), null=True, blank=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)

    objects = IncidentQuerySet.as_manager()

    class Meta(MicrosoftPost.Meta):
        verbose_name = _("incident")
        verbose_name_plural = _("incidents")
        indexes = [
            # The incidents list: active first, newest change first.
            models.Index(
                fields=["is_resolved", "-last_modified_at"], name="incidents_active_recent"
            ),
            # Incremental sync: ?modified_since=…
            models.Index(fields=["modified_at", "id"], name="incidents_incident_modified"),
        ]

    def get_absolute_url(self):
        return reverse("incidents:detail", kwargs={"microsoft_id": self.microsoft_id})

    @property
    def status_label(self):
        return status_label(self.status)

    @property
    def severity(self):
        return 0 if self.is_resolved else status_severity(self.status)

    @property
    def classification_label(self):
        return label_for(IncidentClassificationChoices, self.classification)


class IncidentPost(models.Model):
    """One update Microsoft posted. Posts have no id of their own: time and content identify
    them, so ``fingerprint`` (a hash of both) keeps a re-poll from duplicating them."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="posts")
    posted_at = models.DateTimeField(_("posted"), null=True, blank=True)
    post_type = models.CharField(_("type"), max_length=40, blank=True)
    content_type = models.CharField(max_length=20, default="html")
    content = models.TextField(_("content"))
    fingerprint = models.CharField(max_length=64)

    class Meta:
        verbose_name = _("incident post")
        verbose_name_plural = _("incident posts")
        ordering = ["incident_id", "posted_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "fingerprint"], name="incidents_incidentpost_unique_fingerprint"
            )
        ]

    def __str__(self):
        return f"{self.incident.microsoft_id} @ {self.posted_at}"


class AffectedCustomer(CustomerLink):
    post_field = "incident"
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="affected")
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="incident_links"
    )

    class Meta:
        verbose_name = _("affected customer")
        verbose_name_plural = _("affected customers")
        # The index serves a customer's Incidents tab.
        ordering, constraints, indexes = link_options(
            "incident",
            unique="incidents_affectedcustomer_unique",
            by_customer="incidents_affected_by_customer",
        )


class Acknowledgement(models.Model):
    """An agent saying "seen, we are on it", with a note; shown with who and when."""

    incident = models.ForeignKey(
        Incident, on_delete=models.CASCADE, related_name="acknowledgements"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    note = models.TextField(_("note"), blank=True)
    created_at = models.DateTimeField(_("acknowledged"), auto_now_add=True)

    class Meta:
        verbose_name = _("acknowledgement")
        verbose_name_plural = _("acknowledgements")
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return f"{self.incident.microsoft_id} acknowledged by {self.user}"


class Snooze(models.Model):
    """An agent hiding an incident from their attention lists until a time."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="snoozes")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    until = models.DateTimeField(_("snoozed until"))

    class Meta:
        verbose_name = _("snooze")
        verbose_name_plural = _("snoozes")
        constraints = [
            models.UniqueConstraint(fields=["incident", "user"], name="incidents_snooze_unique")
        ]

    def __str__(self):
        return f"{self.incident.microsoft_id} snoozed until {self.until}"
