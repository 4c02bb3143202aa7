"""Service requests, their channels, routing rules, support topics, timeline and notes."""

import json

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.roles import Capability, CapabilityQuerySet
from core import crypto
from servicerequests.channels import CHANNEL_LABELS, CHANNELS, adapter_class
from servicerequests.choices import (
    CategoryChoices,
    SeverityChoices,
    StatusChoices,
    TierChoices,
    TimelineKindChoices,
)


class SupportTopic(models.Model):
    """Partner Center's support topics (seeded), editable by Global admins."""

    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    category = models.CharField(_("category"), max_length=20, choices=CategoryChoices.choices)
    partner_center_id = models.CharField(_("Partner Center id"), max_length=40, blank=True)
    active = models.BooleanField(_("active"), default=True)
    modified_at = models.DateTimeField(_("modified"), auto_now=True)

    class Meta:
        verbose_name = _("support topic")
        verbose_name_plural = _("support topics")
        ordering = ["category", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["partner_center_id"],
                condition=~Q(partner_center_id=""),
                name="servicerequests_supporttopic_unique_pc_id",
            )
        ]
        indexes = [
            # Incremental sync: ?modified_since=… ordered by modification.
            models.Index(fields=["modified_at", "id"], name="servicerequests_topic_modified"),
        ]

    def __str__(self):
        return self.name


class ChannelQuerySet(CapabilityQuerySet):
    capability = Capability.MANAGE_INTEGRATIONS


class Channel(models.Model):
    """Where escalations go: Partner Center's API, a webhook, an email address, or by hand."""

    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(
        _("kind"), max_length=32, choices=[(kind, CHANNEL_LABELS[kind]) for kind in CHANNELS]
    )
    category = models.CharField(_("category"), max_length=20, choices=CategoryChoices.choices)
    tier = models.CharField(_("support plan"), max_length=20, choices=TierChoices.choices)
    endpoint = models.CharField(
        _("endpoint"),
        max_length=500,
        blank=True,
        help_text=_("Base URL, webhook URL or email address, by kind."),
    )
    # Fernet ciphertext of a JSON object (token, signing secret...): write-only, never logged.
    credentials_encrypted = models.TextField(editable=False, default="")
    enabled = models.BooleanField(_("enabled"), default=True)
    needs_attention = models.BooleanField(_("needs attention"), default=False)
    last_error = models.TextField(_("last error"), blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)

    objects = ChannelQuerySet.as_manager()

    class Meta:
        verbose_name = _("support channel")
        verbose_name_plural = _("support channels")
        ordering = ["category", "name"]
        constraints = [
            models.UniqueConstraint(fields=["name"], name="servicerequests_channel_unique_name")
        ]
        indexes = [
            # Incremental sync: ?modified_since=… ordered by modification.
            models.Index(fields=["modified_at", "id"], name="servicerequests_chan_modified"),
        ]

    def __str__(self):
        return self.name

    @property
    def credentials(self):
        return (
            json.loads(crypto.decrypt(self.credentials_encrypted))
            if self.credentials_encrypted
            else {}
        )

    def set_credentials(self, values):
        self.credentials_encrypted = crypto.encrypt(json.dumps(values)) if values else ""

    def adapter(self):
        return adapter_class(self.kind)(self)


class RoutingRule(models.Model):
    """Ordered rules: the first enabled rule whose conditions all match picks the channel.
    A blank condition matches anything."""

    position = models.PositiveIntegerField(_("order"), default=100)
    name = models.CharField(_("name"), max_length=100)
    category = models.CharField(
        _("category"), max_length=20, choices=CategoryChoices.choices, blank=True
    )
    severity = models.CharField(
        _("severity"), max_length=20, choices=SeverityChoices.choices, blank=True
    )
    support_topic = models.ForeignKey(
        SupportTopic,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        verbose_name=_("support topic"),
    )
    customer_tag = models.CharField(_("customer tag"), max_length=50, blank=True)
    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="rules")
    enabled = models.BooleanField(_("enabled"), default=True)
    modified_at = models.DateTimeField(_("modified"), auto_now=True)

    class Meta:
        verbose_name = _("routing rule")
        verbose_name_plural = _("routing rules")
        ordering = ["position", "pk"]
        indexes = [
            # Incremental sync: ?modified_since=… ordered by modification.
            models.Index(fields=["modified_at", "id"], name="servicerequests_rule_modified"),
        ]

    def __str__(self):
        return self.name


def response_breached(status, first_response_at, response_due_at, now=None):
    """Not closed, no first response yet, and past its first-response target (the API's list
    reads values, not instances)."""
    return (
        first_response_at is None
        and status != StatusChoices.CLOSED
        and response_due_at < (now or timezone.now())
    )


class ServiceRequestQuerySet(CapabilityQuerySet):
    capability = Capability.VIEW_SUPPORT

    def breached(self, now=None):
        now = now or timezone.now()
        return self.filter(first_response_at__isnull=True, response_due_at__lt=now).exclude(
            status=StatusChoices.CLOSED
        )

    def needing_attention(self, now=None):
        return self.filter(
            Q(status__in=[StatusChoices.ATTENTION_NEEDED, StatusChoices.DELIVERY_FAILED])
            | Q(pk__in=self.breached(now).values("pk"))
        )


class ServiceRequest(models.Model):
    """An escalation to Microsoft, modelled on Partner Center's service request."""

    number = models.CharField(_("number"), max_length=20, blank=True, editable=False)
    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"))
    severity = models.CharField(_("severity"), max_length=20, choices=SeverityChoices.choices)
    support_topic = models.ForeignKey(
        SupportTopic, on_delete=models.PROTECT, related_name="+", verbose_name=_("support topic")
    )
    category = models.CharField(_("category"), max_length=20, choices=CategoryChoices.choices)
    status = models.CharField(
        _("status"),
        max_length=20,
        choices=StatusChoices.choices,
        default=StatusChoices.PENDING_DELIVERY,
    )
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="service_requests"
    )
    contact_name = models.CharField(_("primary contact"), max_length=150)
    contact_email = models.EmailField(_("contact email"))
    contact_phone = models.CharField(_("contact phone"), max_length=40, blank=True)
    channel = models.ForeignKey(
        Channel, on_delete=models.PROTECT, null=True, related_name="service_requests"
    )
    channel_reference = models.CharField(_("channel reference"), max_length=100, blank=True)
    incident = models.ForeignKey(
        "incidents.Incident",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="service_requests",
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_service_requests",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    locale = models.CharField(_("agent locale"), max_length=10, default="en-US")
    response_due_at = models.DateTimeField(_("first response due"))
    first_response_at = models.DateTimeField(_("first response"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    modified_at = models.DateTimeField(_("modified"), auto_now=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)

    objects = ServiceRequestQuerySet.as_manager()

    class Meta:
        verbose_name = _("service request")
        verbose_name_plural = _("service requests")
        ordering = ["-created_at", "-pk"]
        constraints = [
            # Pages and the API find requests by number; it is set right after the first save.
            models.UniqueConstraint(
                fields=["number"], condition=~Q(number=""), name="servicerequests_sr_unique_number"
            )
        ]
        indexes = [
            models.Index(fields=["status", "-created_at"], name="servicerequests_sr_status"),
            models.Index(fields=["modified_at", "id"], name="servicerequests_sr_modified"),
            # The breached filter and the dashboard's needs-attention list.
            models.Index(
                fields=["first_response_at", "response_due_at"], name="servicerequests_sr_due"
            ),
        ]

    def __str__(self):
        return f"{self.number}: {self.title}"

    def get_absolute_url(self):
        return reverse("servicerequests:detail", kwargs={"number": self.number})

    @property
    def is_breached(self):
        return response_breached(self.status, self.first_response_at, self.response_due_at)


def render_message(template, params):
    """``template`` (an English msgid) in the active language. String parameters are translated
    too when the catalogue has them (status names); names and references come back unchanged."""
    if not params:
        return gettext(template)
    return gettext(template) % {
        name: gettext(value) if isinstance(value, str) and value else value
        for name, value in params.items()
    }


def english(choice):
    """A choice's label as its English msgid, for storing as a parameter (``get_FOO_display()``
    has already translated it into the active language)."""
    with translation.override("en"):
        return str(choice.label)


class TimelineEntry(models.Model):
    """One line of a request's history.

    Written in no particular language: the message's template and parameters are kept in
    ``data["message"]`` and translated for each reader (``text``); ``message`` holds the English
    rendering, and is all that entries written before this had (shown as they are).
    """

    service_request = models.ForeignKey(
        ServiceRequest, on_delete=models.CASCADE, related_name="timeline"
    )
    kind = models.CharField(max_length=20, choices=TimelineKindChoices.choices)
    message = models.TextField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    actor_name = models.CharField(max_length=150, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("timeline entry")
        verbose_name_plural = _("timeline entries")
        ordering = ["created_at", "pk"]

    def __str__(self):
        return f"{self.kind}: {self.message[:40]}"

    @classmethod
    def write(cls, service_request, kind, template, params=None, **options):
        """Add an entry (``build``'s arguments)."""
        entry = cls.build(service_request, kind, template, params, **options)
        entry.save(force_insert=True)
        return entry

    @classmethod
    def build(
        cls,
        service_request,
        kind,
        template,
        params=None,
        *,
        actor=None,
        actor_name="",
        data=None,
        translate=True,
    ):
        """An entry, unsaved (``bulk_create`` writes several in one statement). ``template`` is
        a msgid marked with gettext_noop; ``translate=False`` for text people wrote (notes),
        which is shown as written."""
        actor = actor if actor is not None and actor.is_authenticated else None
        params = params or {}
        data = dict(data or {})
        if translate:
            data["message"] = {"template": template, "params": params}
            with translation.override("en"):
                message = render_message(template, params)
        else:
            message = template
        return cls(
            service_request=service_request,
            kind=kind,
            message=message,
            actor=actor,
            actor_name=actor_name or (actor.get_full_name() if actor is not None else ""),
            data=data,
        )

    @property
    def text(self):
        """The message in the reader's language."""
        stored = self.data.get("message") if isinstance(self.data, dict) else None
        if not stored:
            return self.message
        return render_message(stored["template"], stored["params"])


class ServiceRequestNote(models.Model):
    service_request = models.ForeignKey(
        ServiceRequest, on_delete=models.CASCADE, related_name="notes"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    author_name = models.CharField(max_length=150, blank=True)
    text = models.TextField()
    from_channel = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("note")
        verbose_name_plural = _("notes")
        ordering = ["created_at", "pk"]

    def __str__(self):
        return self.text[:40]


class CallbackNonce(models.Model):
    """The ``webhook-id`` of each accepted webhook callback, so a replay within the window is
    refused (for the deprecated ``X-Portal-Signature``, the signature itself)."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="+")
    message_id = models.CharField(max_length=128)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "message_id"], name="servicerequests_nonce_unique"
            )
        ]

    def __str__(self):
        return f"{self.channel_id}:{self.message_id[:12]}"


class ApiIdempotencyKey(models.Model):
    """An ``Idempotency-Key`` an API caller sent with a create, and the answer it got.

    Written in the same transaction as the request it created, so a retry can never open a
    second one: a concurrent duplicate waits on the unique index and then replays the answer.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    # sha256 of method, path and canonical body: the same key with another body is refused.
    fingerprint = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(default=0)
    # The answer as rendered JSON text: replayed byte for byte (jsonb would reorder its keys).
    response_body = models.TextField(blank=True)
    response_headers = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "key"], name="servicerequests_apiidempotencykey_unique_user_key"
            )
        ]
        indexes = [
            # The daily purge of keys older than a day.
            models.Index(fields=["created_at"], name="servicerequests_idem_created")
        ]

    def __str__(self):
        return f"{self.user_id}:{self.key}"
