from django.core.mail import EmailMessage
from django.core.mail.message import make_msgid

from servicerequests.channels.base import Channel, ChannelError, SendResult


class EmailChannel(Channel):
    """An email to the channel's address; the Message-ID is the reference."""

    def send(self, delivery):
        service_request = delivery.service_request
        message_id = make_msgid(idstring=str(delivery.idempotency_key), domain="partner-portal")
        body = (
            f"{service_request.description}\n\n"
            f"Customer: {service_request.customer.company_name} ({service_request.customer.tenant_id})\n"
            f"Severity: {service_request.get_severity_display()}\n"
            f"Support topic: {service_request.support_topic}\n"
            f"Contact: {service_request.contact_name} <{service_request.contact_email}> "
            f"{service_request.contact_phone}\n"
            f"Portal reference: {service_request.number}\n"
        )
        email = EmailMessage(
            subject=f"[{service_request.number}] {service_request.title}",
            body=body,
            to=[self.channel.endpoint],
            headers={"Message-ID": message_id, "X-Idempotency-Key": str(delivery.idempotency_key)},
        )
        try:
            email.send(fail_silently=False)
        except OSError as exc:  # SMTP down, refused: try again later
            raise ChannelError(
                f"The mail server refused or did not answer ({type(exc).__name__})."
            ) from None
        return SendResult(reference=message_id.strip("<>"))
