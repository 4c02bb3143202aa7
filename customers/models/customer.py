"""Customers, their contacts and subscriptions, and the tags that group them."""

import functools
import re

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.roles import Capability, CapabilityQuerySet
from customers import gdap
from customers.choices import (
    ContactRoleChoices,
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


class CustomerQuerySet(CapabilityQuerySet):
    # Customers the user may see: all of them for the support roles, none otherwise.
    capability = Capability.VIEW_SUPPORT

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

    def with_feed_badge(self):
        """``has_feed_badge``: whether the list marks the customer's health feed as refused or
        failing (servicehealth/_customer_feed_badges.html), so that only those rows read their
        feed sources."""
        return self.annotate(has_feed_badge=Exists(_badged_feed_sources()))

    def search(self, text):
        """Company name, any domain or the tenant id, case-insensitively."""
        text = text.strip().lower()
        if not text:
            return self
        return self.filter(search_text__contains=text)


@functools.cache
def _badged_feed_sources():
    """The outer customer, if one of its enabled feed sources is refused or failing. Through the
    reverse relation servicehealth declares: customers imports nothing from it. As a join, which
    PostgreSQL runs once for the whole page as a hashed subplan (a subquery of the feed sources
    alone it ran for every row, the 7,450 an OFFSET skips too). Built once per process and
    copied by each Exists: resolving the filter again was a quarter of a millisecond a page."""
    return Customer.objects.filter(
        Q(pk=OuterRef("pk"), feed_sources__enabled=True)
        & (Q(feed_sources__access_problem__gt="") | Q(feed_sources__consecutive_failures__gt=0))
    )


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


def gdap_state_of(access_until, ever_active, now=None):
    """Delegated access as a whole from a customer's two columns (the API's list reads values)."""
    now = now or timezone.now()
    if access_until is not None and access_until > now:
        return (
            GdapStateChoices.EXPIRING
            if access_until <= now + gdap.EXPIRING_WINDOW
            else GdapStateChoices.ACTIVE
        )
    return GdapStateChoices.EXPIRED if ever_active else GdapStateChoices.NONE


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
    # Lower-cased company name, domains and tenant id: the search's one column. On PostgreSQL a
    # trigram index of it (migration 0005, not in Meta.indexes: SQLite could not build it)
    # answers the search's LIKE '%text%'.
    search_text = models.TextField(editable=False, default="")
    # Summary of the delegated-admin relationships, kept by customers.services.refresh_gdap_summary
    # so list filters and sorting need no join: the latest end of a relationship that grants
    # access now, and whether any relationship ever granted access.
    gdap_access_until = models.DateTimeField(null=True, blank=True, editable=False)
    gdap_ever_active = models.BooleanField(default=False, editable=False)
    # What the sync from Microsoft keeps (customers.partner_center_sync): the tenant's initial
    # domain (its companyProfile.domain in Partner Center), whether Partner Center ever listed
    # the customer and when it stopped (the customer is marked, never deleted), the SharePoint
    # admin URL Graph gave (sites/root), Microsoft's own admin links (GDAP
    # serviceManagementDetails, [{"service", "url"}]) and what the customer's tenant answered
    # when it refused the partner.
    initial_domain = models.CharField(
        _("initial domain"), max_length=253, blank=True, editable=False
    )
    from_partner_center = models.BooleanField(default=False, editable=False)
    removed_from_partner_center_at = models.DateTimeField(
        _("removed from Partner Center"), null=True, blank=True, editable=False
    )
    sharepoint_admin_url = models.URLField(
        _("SharePoint admin URL"), max_length=300, blank=True, editable=False
    )
    microsoft_links = models.JSONField(default=list, blank=True, editable=False)
    tenant_access_error = models.CharField(
        _("tenant access"), max_length=500, blank=True, editable=False
    )

    objects = CustomerQuerySet.as_manager()

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        ordering = ["company_name", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["tenant_id"], name="customers_customer_unique_tenant"),
            # A customer only Graph's GDAP customers know has no domain yet.
            models.UniqueConstraint(
                fields=["default_domain"],
                condition=~Q(default_domain=""),
                name="customers_customer_unique_default_domain",
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
                self.initial_domain,
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
        return gdap_state_of(self.gdap_access_until, self.gdap_ever_active, now)

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
    # Partner Center's subscription id: the sync upserts by it. Empty for one typed in here.
    microsoft_id = models.CharField(max_length=100, blank=True, editable=False)

    class Meta:
        verbose_name = _("subscription")
        verbose_name_plural = _("subscriptions")
        ordering = ["customer_id", "service_family", "offer_name", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "microsoft_id"],
                condition=~Q(microsoft_id=""),
                name="customers_subscription_unique_ms_id",
            ),
        ]
        indexes = [
            # A customer's subscriptions by family (the detail page, Administer services).
            models.Index(fields=["customer", "service_family"], name="customers_sub_family"),
        ]

    def __str__(self):
        return f"{self.offer_name} × {self.quantity}"
