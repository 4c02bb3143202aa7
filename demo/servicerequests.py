"""Demo escalation setup for `make run`: channels to the bundled Partner Center simulator (on
the demo's Microsoft connection) and webhook receiver, routing rules, and a few service requests
(delivered by the worker)."""

from django.conf import settings
from django.db import transaction

from customers.models import Customer
from servicerequests import services
from servicerequests.models import Channel, RoutingRule, ServiceRequest, SupportTopic

PARTNER_CENTER_URL = "http://127.0.0.1:8003"
# What demo databases from before the Microsoft connection pasted into the channel; the
# simulator still accepts it.
PARTNER_CENTER_TOKEN = "partner-center-sim-token"  # noqa: S105 - the simulator's demo token
WEBHOOK_URL = "http://127.0.0.1:8004/tickets"
WEBHOOK_SECRET = "demo-webhook-secret"  # noqa: S105 - the simulator's demo secret

REQUESTS = [
    (
        "Exchange Online mail flow stopped for all users",
        "critical",
        "32444674",
        "contoso-lojistik.com.tr",
    ),
    ("Teams meetings drop after 10 minutes", "moderate", "32444676", "bogazicisaglik.com.tr"),
    (
        "Invoice shows licenses we cancelled in October",
        "minimal",
        "32444668",
        "anadolutekstil.com.tr",
    ),
    (
        "Intune enrollment fails with error 0x80180014",
        "moderate",
        "32444678",
        "kapadokyaturizm.com",
    ),
]


def _channel(name, **fields):
    channel = Channel.objects.filter(name=name).first()
    if channel is not None:
        return channel, False
    credentials = fields.pop("credentials")
    channel = Channel(name=name, **fields)
    channel.set_credentials(credentials)
    channel.save()
    return channel, True


@transaction.atomic
def load():
    if settings.PRODUCTION:
        raise RuntimeError("Demo data is never loaded in production.")
    partner_center, created_pc = _channel(
        "Premier Support via Partner Center (simulated)",
        kind="partner_center",
        category="technical",
        tier="premier",
        endpoint=PARTNER_CENTER_URL,
        credentials={},  # no pasted token: the demo's Microsoft connection (demo/microsoft.py)
    )
    desk, created_desk = _channel(
        "Advanced Support desk webhook (simulated)",
        kind="webhook",
        category="technical",
        tier="advanced",
        endpoint=WEBHOOK_URL,
        credentials={"signing_secret": WEBHOOK_SECRET},
    )
    if created_pc:
        rules = [
            (10, "Critical technical issues to Premier", {"severity": "critical"}, partner_center),
            (20, "VIP customers to Premier", {"customer_tag": "vip"}, partner_center),
            (90, "Other technical issues to the Advanced desk", {}, desk),
        ]
        for position, name, condition, channel in rules:
            RoutingRule.objects.create(
                position=position, name=name, category="technical", channel=channel, **condition
            )
    opened = 0
    if not ServiceRequest.objects.exists():
        for title, severity, topic_id, domain in REQUESTS:
            customer = Customer.objects.filter(default_domain=domain).first()
            topic = SupportTopic.objects.filter(partner_center_id=topic_id).first()
            if customer is None or topic is None:
                continue
            contact = customer.contacts.first()
            services.open_service_request(
                actor=None,
                title=title,
                description=f"{title}. Reported by the customer this morning; steps tried are in the notes.",
                severity=severity,
                support_topic=topic,
                customer=customer,
                contact_name=contact.name if contact else "IT desk",
                contact_email=contact.email if contact and contact.email else f"it@{domain}",
            )
            opened += 1
    return [
        f"Demo channels: {int(created_pc) + int(created_desk)} created; demo service requests: {opened} opened."
    ]
