import re
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.roles import Capability
from customers import gdap
from customers.choices import (
    ContactRoleChoices,
    CustomerImportStatusChoices,
    CustomerRelationshipChoices,
    ServiceFamilyChoices,
    SubscriptionStatusChoices,
)
from customers.gdap import GdapStateChoices

country_code_validator = RegexValidator(
    r"^[A-Z]{2}$", _("Use the two-letter ISO 3166 country code, for example TR or GB.")
)
DOMAIN_PATTERN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def validate_domain(value):
    if not DOMAIN_PATTERN.match(value):
        raise ValidationError(_("%(value)s is not a domain name."), params={"value": value})


class Tag(models.Model):
    name = models.SlugField(_("name"), max_length=50, unique=True, allow_unicode=True)

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        ordering = ["name"]

    def __str__(self):
        return self.name


class CustomerQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Customers the user may see: all of them for the support roles, none otherwise."""
        if user.is_authenticated and user.has_capability(Capability.VIEW_SUPPORT):
            return self
        return self.none()

    def with_gdap_state(self, state, now=None):
        now = now or timezone.now()
        soon = now + gdap.EXPIRING_WINDOW
        no_access = Q(gdap_access_until__isnull=True) | Q(gdap_access_until__lte=now)
        filters = {
            GdapStateChoices.ACTIVE: Q(gdap_access_until__gt=soon),
            GdapStateChoices.EXPIRING: Q(gdap_access_until__gt=now, gdap_access_until__lte=soon),
            GdapStateChoices.EXPIRED: no_access & Q(gdap_ever_active=True),
            GdapStateChoices.NONE: no_access & Q(gdap_ever_active=False),
        }
        return self.filter(filters[GdapStateChoices(state)])

    def search(self, text):
        """Company name, any domain or the tenant id, case-insensitively."""
        text = text.strip().lower()
        if not text:
            return self
        return self.filter(search_text__contains=text)


# A customer's own columns, in the order the CSV import, the CSV export and the API give them.
CUSTOMER_COLUMNS = (
    "tenant_id",
    "company_name",
    "default_domain",
    "other_domains",
    "country",
    "relationship",
    "tags",
)


class Customer(models.Model):
    """A customer tenant the partner supports."""

    tenant_id = models.UUIDField(_("tenant id"))
    company_name = models.CharField(_("company name"), max_length=200)
    default_domain = models.CharField(
        _("default domain"), max_length=253, validators=[validate_domain]
    )
    other_domains = models.JSONField(_("other domains"), default=list, blank=True)
    country = models.CharField(_("country"), max_length=2, validators=[country_code_validator])
    relationship = models.CharField(
        _("relationship"),
        max_length=32,
        choices=CustomerRelationshipChoices.choices,
        default=CustomerRelationshipChoices.RESELLER,
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="customers", verbose_name=_("tags"))
    notes = models.TextField(_("notes"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    modified_at = models.DateTimeField(_("modified"), auto_now=True)
    # Lower-cased company name, domains and tenant id, so one indexed-free scan serves search.
    search_text = models.TextField(editable=False, default="")
    # Summary of the delegated-admin relationships, kept by customers.services.refresh_gdap_summary
    # so list filters and sorting need no join: the latest end of a relationship that grants
    # access now, and whether any relationship ever granted access.
    gdap_access_until = models.DateTimeField(null=True, blank=True, editable=False)
    gdap_ever_active = models.BooleanField(default=False, editable=False)

    objects = CustomerQuerySet.as_manager()

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        ordering = ["company_name", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["tenant_id"], name="customers_customer_unique_tenant"),
            models.UniqueConstraint(
                fields=["default_domain"], name="customers_customer_unique_default_domain"
            ),
        ]
        indexes = [
            # The customer list's default sort.
            models.Index(fields=["company_name", "id"], name="customers_customer_name"),
            # Incremental sync: ?modified_since=… ordered by modification.
            models.Index(fields=["modified_at", "id"], name="customers_customer_modified"),
            # GDAP state filters and the expiring-access views.
            models.Index(fields=["gdap_access_until"], name="customers_customer_gdap_until"),
        ]

    def __str__(self):
        return self.company_name

    def save(self, *args, **kwargs):
        self.save_prepare()
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "search_text", "modified_at"}
        super().save(*args, **kwargs)

    def get_absolute_url(self):
        return reverse("customers:detail", kwargs={"tenant_id": self.tenant_id})

    def clean(self):
        self.normalise()
        errors = []
        for domain in self.other_domains:
            try:
                validate_domain(domain)
            except ValidationError as exc:
                errors.extend(exc.messages)
        if errors:
            raise ValidationError({"other_domains": errors})

    def clean_fields(self, exclude=None):
        # Validators see the stored form: lower-case domains, upper-case country code.
        self.normalise()
        super().clean_fields(exclude)

    def save_prepare(self):
        """What save() derives; bulk_create skips save(), so the import calls this itself."""
        self.normalise()
        self.search_text = " ".join(
            [
                self.company_name.lower(),
                self.default_domain,
                *self.other_domains,
                str(self.tenant_id),
            ]
        )

    def normalise(self):
        self.default_domain = (self.default_domain or "").strip().lower()
        self.other_domains = sorted(
            {d.strip().lower() for d in self.other_domains or [] if d.strip()}
            - {self.default_domain}
        )
        self.country = (self.country or "").strip().upper()

    @property
    def all_domains(self):
        return [self.default_domain, *self.other_domains]

    def gdap_state(self, now=None):
        now = now or timezone.now()
        until = self.gdap_access_until
        if until is not None and until > now:
            return (
                GdapStateChoices.EXPIRING
                if until <= now + gdap.EXPIRING_WINDOW
                else GdapStateChoices.ACTIVE
            )
        return GdapStateChoices.EXPIRED if self.gdap_ever_active else GdapStateChoices.NONE

    @property
    def has_delegated_access(self):
        return self.gdap_state() in (GdapStateChoices.ACTIVE, GdapStateChoices.EXPIRING)

    @property
    def gdap_days_left(self):
        if self.gdap_access_until is None or self.gdap_access_until <= timezone.now():
            return None
        return (self.gdap_access_until - timezone.now()).days


class Contact(models.Model):
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="contacts", verbose_name=_("customer")
    )
    name = models.CharField(_("name"), max_length=150)
    email = models.EmailField(_("email"), blank=True)
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    role = models.CharField(
        _("role"),
        max_length=20,
        choices=ContactRoleChoices.choices,
        default=ContactRoleChoices.PRIMARY,
    )

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        ordering = ["customer_id", "role", "name"]

    def __str__(self):
        return f"{self.name} ({self.get_role_display()})"


class Subscription(models.Model):
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="subscriptions", verbose_name=_("customer")
    )
    service_family = models.CharField(
        _("service family"), max_length=32, choices=ServiceFamilyChoices.choices
    )
    offer_name = models.CharField(_("offer"), max_length=200)
    quantity = models.PositiveIntegerField(_("quantity"), default=1)
    status = models.CharField(
        _("status"),
        max_length=20,
        choices=SubscriptionStatusChoices.choices,
        default=SubscriptionStatusChoices.ACTIVE,
    )
    term_end = models.DateField(_("term end"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    modified_at = models.DateTimeField(_("modified"), auto_now=True)

    class Meta:
        verbose_name = _("subscription")
        verbose_name_plural = _("subscriptions")
        ordering = ["customer_id", "service_family", "offer_name", "pk"]
        indexes = [
            # A customer's subscriptions by family (the detail page, Administer services).
            models.Index(fields=["customer", "service_family"], name="customers_sub_family"),
        ]

    def __str__(self):
        return f"{self.offer_name} × {self.quantity}"


class DelegatedAdminRelationship(models.Model):
    """Shaped like Microsoft Graph's ``delegatedAdminRelationship``."""

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="relationships", verbose_name=_("customer")
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
        return gdap.label_for(gdap.RelationshipStatusChoices, self.status)

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
        return gdap.label_for(gdap.AccessAssignmentStatusChoices, self.status)

    @property
    def role_names(self):
        return [gdap.role_name(role) for role in self.roles]


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


class GdapSyncState(models.Model):
    """The one record of the GDAP sync: who holds it (lease), and how the last run went.

    A single row: the sync reads every relationship of the partner tenant at once, so two runs
    at the same time would only repeat each other; the lease makes the second one skip.
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
        verbose_name = _("GDAP sync state")
        verbose_name_plural = _("GDAP sync state")

    def __str__(self):
        return f"GDAP sync: {self.get_last_outcome_display()}"

    @classmethod
    def get(cls):
        state, _created = cls.objects.get_or_create(pk=1)
        return state
