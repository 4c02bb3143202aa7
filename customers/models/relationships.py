"""Delegated-admin (GDAP) relationships and their access assignments, shaped like Graph's."""

from datetime import timedelta

from django.db import models
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.choices import label_for
from customers import gdap


class DelegatedAdminRelationship(models.Model):
    """Shaped like Microsoft Graph's ``delegatedAdminRelationship``."""

    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.CASCADE,
        related_name="relationships",
        verbose_name=_("customer"),
    )
    microsoft_id = models.CharField(_("Microsoft id"), max_length=100)
    display_name = models.CharField(_("display name"), max_length=50)
    # Kept as Graph sends it: an unknown future value is stored and shown, never rejected.
    status = models.CharField(_("status"), max_length=40)
    duration = models.CharField(_("duration"), max_length=20, help_text=_("ISO 8601, e.g. P730D"))
    auto_extend_duration = models.CharField(
        _("auto-extend duration"), max_length=20, default="PT0S", help_text=_("PT0S: never")
    )
    roles = models.JSONField(_("Entra roles"), default=list, help_text=_("Role definition ids"))
    created_on = models.DateTimeField(_("created in Partner Center"), null=True, blank=True)
    activated_on = models.DateTimeField(_("activated"), null=True, blank=True)
    ends_on = models.DateTimeField(_("ends"), null=True, blank=True)
    last_modified_on = models.DateTimeField(_("last modified in Graph"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    modified_at = models.DateTimeField(_("modified"), auto_now=True)
    # The end date the last gdap.expiring event was about: one warning per end date, and a
    # relationship extended since is warned again when its new end nears.
    expiry_warned_for = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("delegated admin relationship")
        verbose_name_plural = _("delegated admin relationships")
        ordering = ["customer_id", F("ends_on").asc(nulls_last=True), "pk"]
        constraints = [
            # Sync upserts by Graph's id; one row per Microsoft relationship.
            models.UniqueConstraint(
                fields=["microsoft_id"], name="customers_delegatedadminrelationship_unique_ms_id"
            ),
        ]
        indexes = [
            # The "Expiring access" page: relationships granting access, soonest end first.
            models.Index(fields=["status", "ends_on"], name="customers_gdap_status_end"),
        ]

    def __str__(self):
        return self.display_name

    @property
    def status_label(self):
        return label_for(gdap.RelationshipStatusChoices, self.status)

    @property
    def is_known_status(self):
        return self.status in gdap.RelationshipStatusChoices.values

    @property
    def grants_access(self):
        return self.status in gdap.ACCESS_STATUSES and (
            self.ends_on is None or self.ends_on > timezone.now()
        )

    @property
    def role_names(self):
        return [gdap.role_name(role) for role in self.roles]

    @property
    def includes_global_administrator(self):
        return gdap.GLOBAL_ADMINISTRATOR_ROLE_ID in self.roles

    @property
    def can_auto_extend(self):
        """Microsoft never auto-extends a relationship that includes Global Administrator."""
        return (
            self.auto_extend_duration not in ("", "PT0S") and not self.includes_global_administrator
        )

    @property
    def days_left(self):
        if self.ends_on is None:
            return None
        return max((self.ends_on - timezone.now()).days, 0)

    @property
    def expiry_flag(self):
        """1, 7 or 30 when access ends within that many days, else None."""
        if not self.grants_access or self.ends_on is None:
            return None
        remaining = self.ends_on - timezone.now()
        for days in gdap.EXPIRY_THRESHOLDS_DAYS:
            if remaining <= timedelta(days=days):
                return days
        return None


class AccessAssignment(models.Model):
    """Shaped like Graph's ``delegatedAdminAccessAssignment``: roles given to a partner group."""

    relationship = models.ForeignKey(
        DelegatedAdminRelationship,
        on_delete=models.CASCADE,
        related_name="access_assignments",
        verbose_name=_("relationship"),
    )
    microsoft_id = models.CharField(_("Microsoft id"), max_length=100)
    security_group_id = models.CharField(_("partner security group"), max_length=64)
    security_group_name = models.CharField(_("group name"), max_length=200, blank=True)
    roles = models.JSONField(_("Entra roles"), default=list)
    status = models.CharField(_("status"), max_length=40)
    created_on = models.DateTimeField(_("created in Partner Center"), null=True, blank=True)
    last_modified_on = models.DateTimeField(_("last modified in Graph"), null=True, blank=True)

    class Meta:
        verbose_name = _("access assignment")
        verbose_name_plural = _("access assignments")
        ordering = ["relationship_id", "security_group_name", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["relationship", "microsoft_id"],
                name="customers_accessassignment_unique_ms_id",
            ),
        ]

    def __str__(self):
        return self.security_group_name or self.security_group_id

    @property
    def status_label(self):
        return label_for(gdap.AccessAssignmentStatusChoices, self.status)

    @property
    def role_names(self):
        return [gdap.role_name(role) for role in self.roles]
