from servicerequests.channels.base import HttpChannel, SendResult, sign


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
    """JSON over HTTPS to the channel's endpoint, signed with its secret, with an idempotency key."""

    def extra_headers(self, body):
        secret = self.channel.credentials.get("signing_secret", "")
        return {"X-Portal-Signature": sign(secret, body)} if secret else {}

    def send(self, delivery):
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
