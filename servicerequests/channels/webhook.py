from django.conf import settings
from django.utils import timezone

from outbound import signing
from servicerequests.channels.base import ChannelError, HttpChannel, SendResult


def payload(service_request):
    customer = service_request.customer
    return {
        "number": service_request.number,
        "title": service_request.title,
        "description": service_request.description,
        "severity": service_request.severity,
        "category": service_request.category,
        "support_topic": service_request.support_topic.name,
        "customer": {"tenant_id": str(customer.tenant_id), "name": customer.company_name},
        "primary_contact": {
            "name": service_request.contact_name,
            "email": service_request.contact_email,
            "phone": service_request.contact_phone,
        },
        "incident": service_request.incident.microsoft_id if service_request.incident else None,
        "created_at": service_request.created_at.isoformat(),
    }


class WebhookChannel(HttpChannel):
    """JSON over HTTPS to the channel's endpoint, signed with its secret (Standard Webhooks, and
    the deprecated ``X-Portal-Signature`` too while ``CHANNEL_LEGACY_SIGNATURE`` is on), with an
    idempotency key."""

    message_id = ""

    def extra_headers(self, body):
        secret = self.channel.credentials.get("signing_secret", "")
        if not secret:
            return {}
        now = timezone.now()
        try:
            headers = signing.sign_headers([secret], self.message_id, body, now)
        except signing.SignatureError as exc:
            raise ChannelError(f"The channel cannot sign: {exc}.", permanent=True) from None
        if settings.CHANNEL_LEGACY_SIGNATURE:
            headers[signing.LEGACY_HEADER] = signing.legacy_sign(secret, body, now)
        return headers

    def send(self, delivery):
        # The webhook-id names the delivery, like the Idempotency-Key: the same on every retry.
        self.message_id = f"msg_{delivery.idempotency_key}"
        response = self.request(
            "POST",
            self.channel.endpoint,
            json_body=payload(delivery.service_request),
            headers={"Idempotency-Key": str(delivery.idempotency_key)},
        )
        try:
            reference = str(response.json().get("ticket_id") or "")
        except ValueError:
            reference = ""
        return SendResult(
            reference=reference or str(delivery.idempotency_key), status_code=response.status_code
        )
