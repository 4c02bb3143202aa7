"""PSA connections with per-customer company ids, and outbound webhooks (subscriptions, outbox).

A ``WebhookDelivery`` is written for each (event, subscription) by the fan-out, with its body
frozen, and sent by a worker that claims it with a lease, exactly like service-request deliveries.
Its ``message_id`` is the Standard Webhooks ``webhook-id``: the same on every retry, so receivers
can drop repeats.
"""

import base64
import secrets

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core import crypto
from core.models import EventTypeChoices

WEBHOOK_TEST_EVENT = "webhook.test"


# A signing secret the portal generates holds this many random bytes.
GENERATED_SECRET_BYTES = 32


def new_webhook_secret():
    """A Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(GENERATED_SECRET_BYTES)).decode()


def new_message_id():
    return f"msg_{secrets.token_hex(16)}"


class PsaKindChoices(models.TextChoices):
    CONNECTWISE = "connectwise", _("ConnectWise PSA")
    AUTOTASK = "autotask", _("Autotask")
    HALOPSA = "halopsa", _("HaloPSA")
    OTHER = "other", _("Other")


class PsaConnection(models.Model):
    """A PSA the partner runs, with the company that customers without a mapping go to."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    kind = models.CharField(_("product"), max_length=32, choices=PsaKindChoices.choices)
    default_company_id = models.CharField(
        _("default company id"),
        max_length=100,
        help_text=_(
            "Events about customers without a company id in this PSA carry this one, "
            "so nothing is dropped."
        ),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    modified_at = models.DateTimeField(_("modified"), auto_now=True, db_index=True)

    class Meta:
        verbose_name = _("PSA connection")
        verbose_name_plural = _("PSA connections")
        ordering = ["name"]

    def __str__(self):
        return self.name


class PsaCompanyMapping(models.Model):
    """The company (or client) id of one customer in one PSA."""

    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.CASCADE,
        related_name="psa_companies",
        verbose_name=_("customer"),
    )
    psa = models.ForeignKey(
        PsaConnection, on_delete=models.CASCADE, related_name="mappings", verbose_name=_("PSA")
    )
    company_id = models.CharField(_("company id"), max_length=100)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    modified_at = models.DateTimeField(_("modified"), auto_now=True)

    class Meta:
        verbose_name = _("PSA company mapping")
        verbose_name_plural = _("PSA company mappings")
        ordering = ["psa__name", "customer__company_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "psa"], name="integrations_one_company_per_psa"
            ),
        ]
        indexes = [
            # Incremental sync of mappings: oldest change first.
            models.Index(fields=["modified_at", "id"], name="integrations_mapping_modified"),
        ]

    def __str__(self):
        return f"{self.customer} → {self.psa}: {self.company_id}"


class WebhookAuthChoices(models.TextChoices):
    NONE = "none", _("Signature only")
    BASIC = "basic", _("Basic authentication")
    BEARER = "bearer", _("Bearer token")


class WebhookSubscription(models.Model):
    """A receiver (usually a PSA) and the events it wants, signed with its own secret."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    target_url = models.URLField(_("target URL"), max_length=500)
    event_types = models.JSONField(_("events"), default=list)
    psa = models.ForeignKey(
        PsaConnection,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="webhook_subscriptions",
        verbose_name=_("PSA"),
        help_text=_("Whose company ids the events carry as psa_company."),
    )
    customers = models.ManyToManyField(
        "customers.Customer",
        blank=True,
        related_name="+",
        verbose_name=_("customers"),
        help_text=_(
            "Only events about these customers. Empty: every customer and partner-wide events."
        ),
    )
    is_active = models.BooleanField(_("active"), default=True)
    secret_encrypted = models.TextField(editable=False)
    # The secret before the last rotation, still signed with until it expires (both signatures).
    previous_secret_encrypted = models.TextField(editable=False, default="")
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    auth_type = models.CharField(
        _("authentication"),
        max_length=16,
        choices=WebhookAuthChoices.choices,
        default=WebhookAuthChoices.NONE,
    )
    auth_username = models.CharField(_("user name"), max_length=150, blank=True)
    auth_secret_encrypted = models.TextField(editable=False, default="")
    # Health, kept up to date by the delivery worker.
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)
    failing_since = models.DateTimeField(_("failing since"), null=True, blank=True, editable=False)
    last_success_at = models.DateTimeField(_("last success"), null=True, blank=True, editable=False)
    last_error = models.TextField(_("last error"), blank=True, editable=False)
    disabled_at = models.DateTimeField(_("disabled"), null=True, blank=True, editable=False)
    disabled_reason = models.CharField(
        _("why disabled"), max_length=255, blank=True, editable=False
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    modified_at = models.DateTimeField(_("modified"), auto_now=True, db_index=True)

    class Meta:
        verbose_name = _("webhook subscription")
        verbose_name_plural = _("webhook subscriptions")
        ordering = ["name"]

    def __str__(self):
        return self.name

    # --- secrets (encrypted at rest, never logged) ---------------------------------------

    @property
    def secret(self):
        return crypto.decrypt(self.secret_encrypted)

    @secret.setter
    def secret(self, value):
        self.secret_encrypted = crypto.encrypt(value)

    def signing_secrets(self, now=None):
        """The secrets to sign with: the current one, and the previous one during its grace."""
        now = now or timezone.now()
        found = [self.secret]
        expires = self.previous_secret_expires_at
        if self.previous_secret_encrypted and expires and expires > now:
            found.append(crypto.decrypt(self.previous_secret_encrypted))
        return found

    @property
    def auth_secret(self):
        return crypto.decrypt(self.auth_secret_encrypted) if self.auth_secret_encrypted else ""

    @auth_secret.setter
    def auth_secret(self, value):
        self.auth_secret_encrypted = crypto.encrypt(value) if value else ""

    # --- what it receives ------------------------------------------------------------------

    @property
    def is_failing(self):
        return self.failing_since is not None

    def event_type_labels(self):
        labels = dict(EventTypeChoices.choices)
        return [labels.get(value, value) for value in self.event_types]


class WebhookDeliveryStateChoices(models.TextChoices):
    PENDING = "pending", _("Waiting to send")
    SENDING = "sending", _("Sending")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Failed")


class WebhookDelivery(models.Model):
    """One event for one subscription: the outbox row, with the body as it will be signed."""

    subscription = models.ForeignKey(
        WebhookSubscription,
        on_delete=models.PROTECT,
        related_name="deliveries",
        verbose_name=_("subscription"),
    )
    # None for test events.
    event = models.ForeignKey(
        "core.Event",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="webhook_deliveries",
        verbose_name=_("event"),
    )
    message_id = models.CharField(_("webhook-id"), max_length=40, default=new_message_id)
    event_type = models.CharField(_("event"), max_length=64)
    payload = models.JSONField(encoder=DjangoJSONEncoder)
    state = models.CharField(
        _("state"),
        max_length=16,
        choices=WebhookDeliveryStateChoices.choices,
        default=WebhookDeliveryStateChoices.PENDING,
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    lease_until = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)
    last_status_code = models.PositiveIntegerField(_("last status"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    modified_at = models.DateTimeField(_("modified"), auto_now=True)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["message_id"], name="integrations_unique_message_id"),
            # The fan-out writes each event once per subscription, even if it runs twice.
            models.UniqueConstraint(
                fields=["event", "subscription"], name="integrations_one_delivery_per_event"
            ),
        ]
        indexes = [
            # The sweep: due or abandoned deliveries.
            models.Index(fields=["state", "next_attempt_at"], name="integrations_delivery_due"),
            # A subscription's delivery log, newest first.
            models.Index(fields=["subscription", "-created_at"], name="integrations_delivery_log"),
        ]

    def __str__(self):
        return f"{self.message_id} {self.event_type}"


class WebhookAttempt(models.Model):
    """One try at sending a delivery: what the receiver said and how long it took."""

    class Outcome(models.TextChoices):
        SUCCESS = "success", _("Delivered")
        RETRY = "retry", _("Failed, will retry")
        FAILED = "failed", _("Failed")

    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log"
    )
    number = models.PositiveIntegerField(_("attempt"))
    started_at = models.DateTimeField(_("started"))
    duration_ms = models.PositiveIntegerField(_("duration (ms)"))
    status_code = models.PositiveIntegerField(_("status"), null=True, blank=True)
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices)
    # The start of the response body, for the delivery log (never the whole thing).
    response_excerpt = models.TextField(_("response"), blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("webhook attempt")
        verbose_name_plural = _("webhook attempts")
        ordering = ["delivery", "number"]

    def __str__(self):
        return f"{self.delivery_id} #{self.number} {self.outcome}"
