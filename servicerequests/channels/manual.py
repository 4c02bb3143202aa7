"""The agent files the request in Microsoft's own portal through a deep link with the text
prefilled, then records Microsoft's reference in the portal."""

from urllib.parse import urlencode

from servicerequests.channels.base import Channel, SendResult

PARTNER_CENTER_NEW_REQUEST = (
    "https://partner.microsoft.com/dashboard/support/servicerequests/create"
)


class ManualChannel(Channel):
    def send(self, delivery):
        return SendResult(reference="", needs_agent=True)

    def deep_link(self, service_request):
        base = self.channel.endpoint or PARTNER_CENTER_NEW_REQUEST
        query = urlencode(
            {
                "title": service_request.title,
                "description": service_request.description[:1500],
                "severity": service_request.severity,
                "tenantId": str(service_request.customer.tenant_id),
            }
        )
        return f"{base}?{query}"
