"""Support channels: one adapter class per kind, behind one small interface (``base.Channel``).

``CHANNELS`` maps each kind to its adapter's dotted path; it drives the model's choices and the
lookup, so the two cannot drift apart. Adding a kind: write ``channels/<kind>.py`` with a
``Channel`` subclass, register it here, copy its tests.
"""

from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _

CHANNELS = {
    "partner_center": "servicerequests.channels.partner_center.PartnerCenterChannel",
    "webhook": "servicerequests.channels.webhook.WebhookChannel",
    "email": "servicerequests.channels.email.EmailChannel",
    "manual": "servicerequests.channels.manual.ManualChannel",
}

CHANNEL_LABELS = {
    "partner_center": _("Partner Center API"),
    "webhook": _("Webhook (JSON over HTTPS, signed)"),
    "email": _("Email"),
    "manual": _("Manual (filed in Microsoft's portal)"),
}


def adapter_class(kind):
    return import_string(CHANNELS[kind])
