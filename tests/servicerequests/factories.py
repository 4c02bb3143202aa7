"""Service-request rows for tests. Each factory makes what it needs: transactional tests flush the
topics and channels the migration seeds, so nothing here relies on them."""

from datetime import timedelta

import factory
from django.utils import timezone

from servicerequests.choices import RESPONSE_TARGETS
from servicerequests.models import (
    Channel,
    Delivery,
    DeliveryStateChoices,
    RoutingRule,
    ServiceRequest,
    SeverityChoices,
    StatusChoices,
    SupportTopic,
)
from tests.customers.factories import CustomerFactory

DEFAULT_CREDENTIALS = {
    "partner_center": {"access_token": "factory-access-token"},
    "webhook": {"signing_secret": "factory-signing-secret"},
}


class SupportTopicFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SupportTopic

    name = factory.Sequence(lambda n: f"Topic {n:04d}")
    partner_center_id = factory.Sequence(lambda n: str(91000000 + n))
    description = "A support topic made by a test."
    category = "technical"
    active = True


class ChannelFactory(factory.django.DjangoModelFactory):
    """A webhook channel on the loopback address by default, with the secret its kind needs
    (pass ``credentials={...}`` to choose them, ``{}`` for none)."""

    class Meta:
        model = Channel
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Channel {n:04d}")
    kind = "webhook"
    category = "technical"
    tier = "premier"
    endpoint = factory.LazyAttribute(
        lambda o: {
            "webhook": "http://127.0.0.1:9/hook",
            "partner_center": "http://127.0.0.1:9",
            "email": "support@partner.example",
            "manual": "https://partner.microsoft.com/dashboard/support/servicerequests/create",
        }[o.kind]
    )
    enabled = True

    @factory.post_generation
    def credentials(self, create, extracted, **kwargs):
        values = extracted if extracted is not None else DEFAULT_CREDENTIALS.get(self.kind, {})
        self.set_credentials(values)
        if create:
            self.save(update_fields=["credentials_encrypted"])


class RoutingRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RoutingRule

    position = factory.Sequence(lambda n: 10 * (n + 1))
    name = factory.Sequence(lambda n: f"Rule {n:04d}")
    channel = factory.SubFactory(ChannelFactory)
    enabled = True


class ServiceRequestFactory(factory.django.DjangoModelFactory):
    """A request built directly (no routing), numbered, with its delivery row in the state
    ``delivery`` names (pending unless told; ``delivery=False`` for none)."""

    class Meta:
        model = ServiceRequest
        skip_postgeneration_save = True

    class Params:
        due_in = None

    title = factory.Sequence(lambda n: f"Mailbox cannot receive mail ({n})")
    description = "Since this morning no mail reaches the finance mailbox from outside."
    severity = SeverityChoices.MODERATE
    support_topic = factory.SubFactory(SupportTopicFactory)
    category = factory.LazyAttribute(lambda o: o.support_topic.category)
    status = StatusChoices.PENDING_DELIVERY
    customer = factory.SubFactory(CustomerFactory)
    contact_name = "Jordan Reyes"
    contact_email = "jordan@customer.example"
    contact_phone = "+44 20 7946 0000"
    channel = factory.SubFactory(ChannelFactory, category=factory.SelfAttribute("..category"))
    locale = "en-US"
    response_due_at = factory.LazyAttribute(
        lambda o: (
            timezone.now() + (o.due_in if o.due_in is not None else RESPONSE_TARGETS[o.severity])
        )
    )

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        service_request = super()._create(model_class, *args, **kwargs)
        service_request.number = f"SR-{service_request.pk:06d}"
        ServiceRequest.objects.filter(pk=service_request.pk).update(number=service_request.number)
        return service_request

    @factory.post_generation
    def delivery(self, create, extracted, **kwargs):
        state = DeliveryStateChoices.PENDING if extracted is None else extracted
        if create and state:
            Delivery.objects.create(
                service_request=self, channel=self.channel, state=state, **kwargs
            )


def breached(**kwargs):
    """A request whose first response was due an hour ago."""
    return ServiceRequestFactory(due_in=-timedelta(hours=1), **kwargs)
