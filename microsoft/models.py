"""The partner's connection to Microsoft: one app registration in the partner tenant and the
refresh token a partner admin's consent gave it, for Partner Center and Graph."""

from datetime import timedelta

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core import crypto
from core.models import SingletonModel

# Entra ID refresh tokens last 90 days from their last redemption (confidential clients).
REFRESH_TOKEN_LIFETIME = timedelta(days=90)
# The page warns this long before the refresh token runs out.
EXPIRY_WARNING = timedelta(days=14)


class MicrosoftConnection(SingletonModel):
    """A single row (``get()``): the portal has one partner tenant."""

    class State(models.TextChoices):
        NOT_CONNECTED = "not_connected", _("Not connected")
        CONNECTED = "connected", _("Connected")
        BROKEN = "broken", _("Broken")

    tenant_id = models.UUIDField(_("partner tenant id"), null=True, blank=True)
    client_id = models.CharField(_("client id"), max_length=100, blank=True)
    # Fernet ciphertexts (core.crypto): never shown back, never logged.
    client_secret_encrypted = models.TextField(editable=False, default="")
    refresh_token_encrypted = models.TextField(editable=False, default="")
    login_url = models.URLField(_("login URL"), default="https://login.microsoftonline.com")
    graph_url = models.URLField(_("Graph URL"), default="https://graph.microsoft.com")
    partner_center_url = models.URLField(
        _("Partner Center URL"), default="https://api.partnercenter.microsoft.com"
    )
    state = models.CharField(
        _("state"), max_length=20, choices=State.choices, default=State.NOT_CONNECTED
    )
    last_redeemed_at = models.DateTimeField(_("last refresh"), null=True, blank=True)
    refresh_expires_at = models.DateTimeField(_("refresh token expires"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    last_error_at = models.DateTimeField(_("last error at"), null=True, blank=True)
    modified_at = models.DateTimeField(_("modified"), auto_now=True)

    class Meta:
        verbose_name = _("Microsoft connection")
        verbose_name_plural = _("Microsoft connection")

    def __str__(self):
        return f"Microsoft connection ({self.state})"

    client_secret = crypto.encrypted_text("client_secret_encrypted")
    refresh_token = crypto.encrypted_text("refresh_token_encrypted")

    @property
    def expires_soon(self):
        """True when the refresh token runs out within EXPIRY_WARNING."""
        return bool(
            self.refresh_expires_at and self.refresh_expires_at - timezone.now() < EXPIRY_WARNING
        )
