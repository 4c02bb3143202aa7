"""Rows the delivery tests need, built directly (transactional tests flush seeded rows)."""

from django.utils import timezone

from servicerequests import delivery
from servicerequests.models import Channel, Delivery, SupportTopic


def topic(category="technical", pc_id="32444673", name="Microsoft 365 technical issue"):
    found, _created = SupportTopic.objects.get_or_create(
        partner_center_id=pc_id, defaults={"name": name, "category": category}
    )
    return found


def channel(
    kind, *, name=None, category="technical", tier="premier", endpoint="", credentials=None
):
    created = Channel(
        name=name or f"{kind} {category}",
        kind=kind,
        category=category,
        tier=tier,
        endpoint=endpoint,
    )
    created.set_credentials(credentials or {})
    created.save()
    return created


def receiver_channel(receiver, path="/tickets"):
    """A webhook channel to the receiver simulator (the ``webhook_receiver`` fixture) at
    ``path``, with the signing secret it verifies."""
    return channel(
        "webhook",
        endpoint=receiver.base_url + path,
        credentials={"signing_secret": "receiver-signing-secret"},
    )


def deliver_only_to(receiver):
    """A channel to the receiver simulator, the only one enabled: every request goes there, and
    the receiver's tickets are the effects to count."""
    target = receiver_channel(receiver)
    Channel.objects.exclude(pk=target.pk).update(enabled=False)
    return target


def deliver_now(service_request):
    """Deliver the request's outbox row now, as a worker would; returns its new state."""
    outbox = Delivery.objects.get(service_request=service_request)
    Delivery.objects.filter(pk=outbox.pk).update(next_attempt_at=timezone.now())
    return delivery.deliver(outbox.pk)
