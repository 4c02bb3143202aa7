import uuid
from datetime import timedelta

import factory
from django.utils import timezone

from customers import gdap
from customers.models import Customer, DelegatedAdminRelationship, Subscription
from customers.services import refresh_gdap_summary


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    tenant_id = factory.LazyFunction(uuid.uuid4)
    company_name = factory.Sequence(lambda n: f"Customer {n:05d} Ltd")
    default_domain = factory.Sequence(lambda n: f"customer{n:05d}.onmicrosoft.com")
    country = "GB"


class SubscriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Subscription

    customer = factory.SubFactory(CustomerFactory)
    service_family = "microsoft_365"
    offer_name = "Microsoft 365 E3"
    quantity = 25


class RelationshipFactory(factory.django.DjangoModelFactory):
    """An active relationship ending in ``ends_in`` days (a timedelta), summary refreshed."""

    class Meta:
        model = DelegatedAdminRelationship
        exclude = ["ends_in"]
        skip_postgeneration_save = True

    customer = factory.SubFactory(CustomerFactory)
    microsoft_id = factory.LazyFunction(lambda: f"{uuid.uuid4()}-{uuid.uuid4()}")
    display_name = factory.Sequence(lambda n: f"Helpdesk access {n}")
    status = gdap.RelationshipStatusChoices.ACTIVE
    duration = "P730D"
    auto_extend_duration = "P180D"
    roles = factory.LazyFunction(lambda: ["f023fd81-a637-4b56-95fd-791ac0226033"])
    ends_in = timedelta(days=300)
    activated_on = factory.LazyFunction(lambda: timezone.now() - timedelta(days=100))
    ends_on = factory.LazyAttribute(lambda o: timezone.now() + o.ends_in)

    @factory.post_generation
    def refresh(self, create, extracted, **kwargs):
        if create:
            refresh_gdap_summary(self.customer)
