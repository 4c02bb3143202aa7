"""Partner Center's service-request API, with its field names and value forms as documented.

Create: ``POST {endpoint}/v1/servicerequests/{agent-locale}`` with PascalCase fields; read and
update: ``/v1/servicerequests/{id}``. Partner Center documents creation only in its "previous
versions" archive and needs app + user credentials: the channel holds a bearer token obtained
that way (credentials ``{"access_token": ...}``).
"""

from outbound.graph import parse_datetime
from servicerequests.channels.base import ChannelError, HttpChannel, SendResult

# Partner Center's statuses (the .NET SDK enum order: none, open, closed, attention_needed).
NUMERIC_STATUS = {0: "none", 1: "open", 2: "closed", 3: "attention_needed"}


def create_body(service_request):
    return {
        "Id": None,
        "Title": service_request.title,
        "Description": service_request.description,
        "Severity": service_request.severity,
        "SupportTopicId": service_request.support_topic.partner_center_id,
        "SupportTopicName": None,
        "Status": "none",
        "Organization": None,
        "PrimaryContact": None,
        "LastUpdatedBy": None,
        "ProductName": None,
        "ProductId": None,
        "CreatedDate": "0001-01-01T00:00:00",
        "LastModifiedDate": "0001-01-01T00:00:00",
        "LastClosedDate": "0001-01-01T00:00:00",
        "NewNote": None,
        "Notes": None,
        "CountryCode": None,
        "FileLinks": None,
        "Attributes": {"ObjectType": "ServiceRequest"},
    }


class PartnerCenterChannel(HttpChannel):
    def _headers(self, delivery_key=None):
        token = self.channel.credentials.get("access_token", "")
        headers = {"Authorization": f"Bearer {token}"}
        if delivery_key:
            # Partner Center correlates retries by MS-RequestId; Idempotency-Key for proxies.
            headers["MS-RequestId"] = delivery_key
            headers["Idempotency-Key"] = delivery_key
        return headers

    def _url(self, path):
        return self.channel.endpoint.rstrip("/") + path

    def send(self, delivery):
        service_request = delivery.service_request
        if not service_request.support_topic.partner_center_id:
            raise ChannelError(
                f"The support topic '{service_request.support_topic}' has no Partner Center id.",
                permanent=True,
            )
        response = self.request(
            "POST",
            self._url(f"/v1/servicerequests/{service_request.locale}"),
            json_body=create_body(service_request),
            headers=self._headers(str(delivery.idempotency_key)),
        )
        try:
            reference = str(response.json()["id"])
        except (ValueError, KeyError, TypeError):
            raise ChannelError("Partner Center answered without a service request id.") from None
        return SendResult(reference=reference, status_code=response.status_code)

    def fetch_status(self, service_request):
        if not service_request.channel_reference:
            return None
        response = self.request(
            "GET",
            self._url(f"/v1/servicerequests/{service_request.channel_reference}"),
            headers=self._headers(),
        )
        try:
            data = response.json()
        except ValueError:
            raise ChannelError("Partner Center answered with something that is not JSON.") from None
        status = data.get("status")
        if isinstance(status, int):  # one documented sample gives the enum as a number
            status = NUMERIC_STATUS.get(status, "none")
        notes = [
            {
                "author_name": str(note.get("createdByName") or "Microsoft"),
                "text": str(note["text"]),
                "created_at": parse_datetime(note.get("createdDate")),
            }
            for note in data.get("notes") or []
            if isinstance(note, dict) and note.get("text")
        ]
        return str(status or "none"), notes
