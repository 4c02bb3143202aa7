"""Partner Center's service-request API, with its field names and value forms as documented.

Create: ``POST {endpoint}/v1/servicerequests/{agent-locale}`` with PascalCase fields; read and
add a note: ``GET`` / ``PATCH /v1/servicerequests/{id}``; support topics:
``GET /v1/servicerequests/supporttopics``. Partner Center takes only App+User tokens here: the
channel asks the partner's Microsoft connection for one (``microsoft.services.access_token``).
A channel whose credentials hold an ``access_token`` an admin pasted uses that instead: an
explicit fallback (it expires within the hour), kept for setups without the connection.

Every call carries ``MS-RequestId`` (the same on every retry of one delivery: Partner Center
treats a repeat as the same request), a fresh ``MS-CorrelationId`` and ``X-Locale`` in the
requester's language.
"""

from django.utils.translation import gettext_noop

from core.outbound import transport
from microsoft.clients import partner_center_locale
from microsoft.services import NotConnected, access_token, forget_access_token, get_connection
from outbound.entra import PARTNER_CENTER_SCOPE, EntraError
from outbound.graph import parse_datetime
from outbound.partner_center import PartnerCenterClient, PartnerCenterError
from outbound.urlguard import UnsafeURL, same_origin
from servicerequests.channels import base
from servicerequests.channels.base import Channel, ChannelError, SendResult

# Partner Center's statuses (the .NET SDK enum order: none, open, closed, attention_needed).
NUMERIC_STATUS = {0: "none", 1: "open", 2: "closed", 3: "attention_needed"}
NEVER = "0001-01-01T00:00:00"  # how Partner Center writes a date not set
# The partner's legacy service incidents (the .NET SDK's GetServiceIncidents route).
SERVICE_INCIDENTS_PATH = "/v1/serviceincidents/office"
# Failures an admin acts on; stored in English, shown translated (timeline parameters are).
NOT_CONNECTED = gettext_noop(
    "Connect Microsoft first: escalations to Partner Center use the partner's connection."
)
TOKEN_REFUSED = gettext_noop(
    "Partner Center refused the Microsoft connection's token (401): reconnect Microsoft, "
    "signing in with multifactor authentication."
)


def split_name(name):
    """``(first, last)``: Partner Center's contact has both; a single word is the last name."""
    parts = name.split()
    if len(parts) < 2:
        return None, name.strip() or None
    return " ".join(parts[:-1]), parts[-1]


def organization(customer):
    return {"Id": str(customer.tenant_id), "Name": customer.company_name, "PhoneNumber": None}


def primary_contact(service_request):
    """The customer's contact as the request names it (prefilled from the customer's contacts)."""
    first, last = split_name(service_request.contact_name)
    return {
        "ContactId": None,
        "FirstName": first,
        "LastName": last,
        "Email": service_request.contact_email or None,
        "PhoneNumber": service_request.contact_phone or None,
        "Organization": organization(service_request.customer),
    }


def _body(**fields):
    """A ServiceRequest body as the documented samples send it: every field, unset ones null."""
    return {
        "Id": None,
        "Title": None,
        "Description": None,
        "Severity": "unknown",
        "SupportTopicId": None,
        "SupportTopicName": None,
        "Status": "none",
        "Organization": None,
        "PrimaryContact": None,
        "LastUpdatedBy": None,
        "ProductName": None,
        "ProductId": None,
        "CreatedDate": NEVER,
        "LastModifiedDate": NEVER,
        "LastClosedDate": NEVER,
        "NewNote": None,
        "Notes": None,
        "CountryCode": None,
        "FileLinks": None,
        "Attributes": {"ObjectType": "ServiceRequest"},
        **fields,
    }


def create_body(service_request):
    return _body(
        Title=service_request.title,
        Description=service_request.description,
        Severity=service_request.severity,
        SupportTopicId=service_request.support_topic.partner_center_id,
        Organization=organization(service_request.customer),
        PrimaryContact=primary_contact(service_request),
    )


def note_body(note):
    """``PATCH`` adding ``note``: severity ``unknown`` and status ``none`` change nothing."""
    return _body(
        NewNote={"CreatedByName": note.author_name or None, "CreatedDate": None, "Text": note.text}
    )


def channel_notes(data):
    return [
        {
            "author_name": str(note.get("createdByName") or "Microsoft"),
            "text": str(note["text"]),
            "created_at": parse_datetime(note.get("createdDate")),
        }
        for note in data.get("notes") or []
        if isinstance(note, dict) and note.get("text")
    ]


class PartnerCenterChannel(Channel):
    def _token(self):
        """The pasted token if this channel has one, else the connection's App+User token."""
        pasted = self.channel.credentials.get("access_token")
        if pasted:
            return pasted
        try:
            token = access_token(PARTNER_CENTER_SCOPE)
        except NotConnected:
            raise ChannelError(NOT_CONNECTED, needs_connection=True) from None
        except EntraError as exc:
            if exc.retryable:
                raise ChannelError(
                    f"Microsoft's sign-in did not answer: {exc}", retry_after=exc.retry_after
                ) from None
            raise ChannelError(f"Reconnect Microsoft: {exc}", needs_connection=True) from None
        self._check_connection_host()
        return token

    def client(self, user=None):
        try:
            return PartnerCenterClient(
                self.channel.endpoint,
                transport=transport(),
                token=self._token,
                locale=partner_center_locale(getattr(user, "language", "") or None),
                timeout=base.TIMEOUT,  # read when called: tests shorten it
            )
        except UnsafeURL as exc:
            raise ChannelError(f"Refused to connect: {exc}", permanent=True) from None

    def _check_connection_host(self):
        """The partner's token goes only to the connection's Partner Center host: an endpoint
        typed on the channel cannot send it anywhere else."""
        allowed = get_connection().partner_center_url
        if not same_origin(self.channel.endpoint, allowed):
            raise ChannelError(
                f"The channel's endpoint is not the Microsoft connection's Partner Center "
                f"address ({allowed}): the partner's token is sent only there. Set the "
                "endpoint to it, or paste an access token for this endpoint.",
                permanent=True,
            )

    def call(self, method, path, *, request_id=None, user=None, body=None):
        """One call. ``request_id``: the row's idempotency key, the same on every retry (and as
        ``Idempotency-Key`` for proxies that know only that one); None for reads."""
        uses_connection = not self.channel.credentials.get("access_token")
        headers = {"Idempotency-Key": str(request_id)} if request_id else None
        try:
            answer = self.client(user).request(
                method, path, body=body, request_id=request_id, headers=headers
            )
        except PartnerCenterError as exc:
            if exc.status == 401 and uses_connection:
                # The token was refused (expired, revoked, or signed in without MFA): forget
                # it, and wait for the connection to be renewed.
                forget_access_token(PARTNER_CENTER_SCOPE)
                raise ChannelError(TOKEN_REFUSED, status_code=401, needs_connection=True) from None
            raise ChannelError(
                str(exc),
                permanent=not exc.retryable,
                retry_after=exc.retry_after,
                status_code=exc.status,
            ) from None
        if not isinstance(answer, dict):
            raise ChannelError("Partner Center answered with something that is not an object.")
        return answer

    def send(self, delivery):
        service_request = delivery.service_request
        if not service_request.support_topic.partner_center_id:
            raise ChannelError(
                f"The support topic '{service_request.support_topic}' has no Partner Center id.",
                permanent=True,
            )
        answer = self.call(
            "POST",
            f"/v1/servicerequests/{service_request.locale}",
            request_id=delivery.idempotency_key,
            user=service_request.created_by,
            body=create_body(service_request),
        )
        reference = str(answer.get("id") or "")
        if not reference:
            raise ChannelError("Partner Center answered without a service request id.")
        return SendResult(reference=reference, status_code=201)

    def send_note(self, note_delivery):
        """``PATCH`` the note onto the request Partner Center holds (``NewNote``)."""
        note = note_delivery.note
        reference = note.service_request.channel_reference
        self.call(
            "PATCH",
            f"/v1/servicerequests/{reference}",
            request_id=note_delivery.idempotency_key,
            user=note.author,
            body=note_body(note),
        )
        return SendResult(reference=reference, status_code=200)

    def fetch_status(self, service_request):
        if not service_request.channel_reference:
            return None
        data = self.call(
            "GET",
            f"/v1/servicerequests/{service_request.channel_reference}",
            user=service_request.created_by,
        )
        status = data.get("status")
        if isinstance(status, int):  # one documented sample gives the enum as a number
            status = NUMERIC_STATUS.get(status, "none")
        return str(status or "none"), channel_notes(data)

    def _pages(self, path):
        try:
            return list(self.client().pages(path))
        except PartnerCenterError as exc:
            raise ChannelError(
                str(exc), permanent=not exc.retryable, status_code=exc.status
            ) from None

    def support_topics(self):
        """Partner Center's support topics, every page: ``[{"id", "name", "description"}]``."""
        return self._pages("/v1/servicerequests/supporttopics")

    def service_incidents(self):
        """Partner Center's legacy service incidents (``ServiceIncidents``, one per workload),
        or None where the API no longer answers (404)."""
        try:
            return self._pages(SERVICE_INCIDENTS_PATH)
        except ChannelError as exc:
            if exc.status_code == 404:
                return None
            raise
