from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.roles import Capability, CapabilityQuerySet
from core import leases
from core.choices import label_for
from customers.models import CustomerLink, MicrosoftPost, link_options


class MessageCategoryChoices(models.TextChoices):
    PREVENT_OR_MANAGE = "preventOrManage", _("Prevent or fix issues")
    PLAN_FOR_CHANGE = "planForChange", _("Plan for change")
    STAY_INFORMED = "stayInformed", _("Stay informed")
    UNKNOWN_FUTURE_VALUE = "unknownFutureValue", _("Unknown")


class MessageSeverityChoices(models.TextChoices):
    NORMAL = "normal", _("Normal")
    HIGH = "high", _("High")
    CRITICAL = "critical", _("Critical")
    UNKNOWN_FUTURE_VALUE = "unknownFutureValue", _("Unknown")


# What Microsoft's feed states about a message, beyond its id: each poll writes these
# (messagecenter.polling) and the API serves them.
REPORTED_FIELDS = (
    "title",
    "category",
    "severity",
    "services",
    "tags",
    "is_major_change",
    "action_required_by",
    "started_at",
    "ended_at",
    "last_modified_at",
    "body_content_type",
    "body",
    "details",
)


class ServiceMessageQuerySet(CapabilityQuerySet):
    capability = Capability.VIEW_SUPPORT


class ServiceMessage(MicrosoftPost):
    """A Microsoft 365 Message center post (``serviceUpdateMessage``, MC123456), stored once
    however many tenants receive it; ``MessageRecipient`` links it to each customer whose feed
    listed it."""

    # Kept as Graph sends them; a value Microsoft adds later is stored and shown as it is.
    category = models.CharField(_("category"), max_length=40)
    severity = models.CharField(_("severity"), max_length=40)
    services = models.JSONField(_("services"), default=list, blank=True)
    tags = models.JSONField(_("tags"), default=list, blank=True)
    is_major_change = models.BooleanField(_("major change"), default=False)
    action_required_by = models.DateTimeField(_("act by"), null=True, blank=True)
    started_at = models.DateTimeField(_("starts"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ends"), null=True, blank=True)
    body_content_type = models.CharField(max_length=20, default="html")
    # Microsoft's HTML as sent; pages show it as text (incidents' post_text), never marked safe.
    body = models.TextField(_("body"), blank=True)

    objects = ServiceMessageQuerySet.as_manager()

    class Meta(MicrosoftPost.Meta):
        verbose_name = _("service message")
        verbose_name_plural = _("service messages")
        indexes = [
            # The message center list: newest change by Microsoft first.
            models.Index(fields=["-last_modified_at"], name="messagecenter_recent"),
            # The "act by before" filter.
            models.Index(fields=["action_required_by"], name="messagecenter_act_by"),
            # Incremental sync: ?modified_since=…
            models.Index(fields=["modified_at", "id"], name="messagecenter_modified"),
        ]

    def get_absolute_url(self):
        return reverse("messagecenter:detail", kwargs={"microsoft_id": self.microsoft_id})

    @property
    def category_label(self):
        return label_for(MessageCategoryChoices, self.category)

    @property
    def severity_label(self):
        return label_for(MessageSeverityChoices, self.severity)


class MessageRecipient(CustomerLink):
    """A customer whose tenant received a message (its feed listed it)."""

    post_field = "message"
    message = models.ForeignKey(ServiceMessage, on_delete=models.CASCADE, related_name="recipients")
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="message_links"
    )

    class Meta:
        verbose_name = _("message recipient")
        verbose_name_plural = _("message recipients")
        # The index serves a customer's messages on its page.
        ordering, constraints, indexes = link_options(
            "message",
            unique="messagecenter_recipient_unique",
            by_customer="messagecenter_by_customer",
        )


class MessageFeedQuerySet(CapabilityQuerySet):
    capability = Capability.VIEW_SUPPORT

    def pollable(self):
        """Feeds of enabled sources that belong to a customer: the partner's own tenant's
        messages reach no customer."""
        return self.filter(source__enabled=True, source__customer__isnull=False)

    def due(self, now=None):
        return leases.due(self.pollable(), now or timezone.now())

    def failing(self):
        """Feeds whose last read failed, newest failure first: shown, never silent."""
        return (
            self.pollable()
            .filter(consecutive_failures__gt=0)
            .select_related("source__customer")
            .order_by("-last_error_at", "pk")
        )


class MessageFeed(leases.PolledWork):
    """The Message center polling of one feed source's tenant: when it is due, who holds it and
    how the last read went. Separate from the source's health polling: another endpoint, another
    role (Message Center Reader), another schedule."""

    source = models.OneToOneField(
        "servicehealth.FeedSource",
        on_delete=models.CASCADE,
        related_name="message_feed",
        verbose_name=_("feed source"),
    )
    needs_attention = models.BooleanField(
        _("needs attention"),
        default=False,
        help_text=_("The last error needs an admin: a missing role or consent in the tenant."),
    )
    messages_seen = models.PositiveIntegerField(_("messages listed"), default=0)

    objects = MessageFeedQuerySet.as_manager()

    class Meta:
        verbose_name = _("message feed")
        verbose_name_plural = _("message feeds")
        ordering = ["source__name", "pk"]
        indexes = [
            # queue_due_feeds: feeds by next poll time.
            models.Index(fields=["next_poll_at"], name="messagecenter_feed_due"),
        ]

    def __str__(self):
        return str(self.source)

    @property
    def is_failing(self):
        return self.consecutive_failures > 0
