"""A PSA's webhook endpoint for the portal's outbound events (Standard Webhooks), simulated.

Like ``WebhookReceiver`` (scripted answers, latency, a record of every request, ``webhook-id`` /
``webhook-timestamp`` / ``webhook-signature`` verified with the ``standardwebhooks`` library, any
of ``secret``'s values signing: rotation), but it drops repeats of a ``webhook-id``
(answered 200, nothing changed), and keeps one ticket per ``consolidation_key``, updated in place
by later events, the way a PSA integration should.
"""

import threading

from simulators.webhook_receiver import WebhookReceiver


class PsaWebhookReceiver(WebhookReceiver):
    idempotency_header = "webhook-id"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.tickets_by_key = {}  # consolidation key -> {"events": [...], "company_id": ...}
        self._ticket_lock = threading.Lock()

    def _process(self, method, delivery, body):
        status, payload, headers = super()._process(method, delivery, body)
        if status == 201 and isinstance(delivery.json, dict):
            data = delivery.json.get("data") or {}
            key = data.get("consolidation_key")
            company = (data.get("psa_company") or {}).get("company_id")
            with self._ticket_lock:
                ticket = self.tickets_by_key.setdefault(key, {"events": [], "company_id": company})
                ticket["events"].append(delivery.json.get("type"))
                ticket["company_id"] = company
        return status, payload, headers

    @property
    def verified(self):
        """Deliveries whose signature verified, in arrival order."""
        with self.lock:
            return [d for d in self.deliveries if getattr(d, "signature_valid", False)]
