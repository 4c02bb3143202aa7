import hashlib
from datetime import timedelta

import factory
from django.utils import timezone

from incidents.models import AffectedCustomer, Incident, IncidentPost
from tests.customers.factories import CustomerFactory


class IncidentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Incident

    microsoft_id = factory.Sequence(lambda n: f"EX{100000 + n}")
    classification = "incident"
    status = "serviceDegradation"
    title = factory.Sequence(lambda n: f"Users may be unable to send mail ({n})")
    impact_description = "Users may be unable to send email from Outlook on the web."
    service = "Exchange Online"
    feature = "E-Mail and calendar access"
    feature_group = "Email and calendar"
    origin = "microsoft"
    is_resolved = False
    started_at = factory.LazyFunction(lambda: timezone.now() - timedelta(hours=3))
    last_modified_at = factory.LazyFunction(timezone.now)


class IncidentPostFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = IncidentPost

    incident = factory.SubFactory(IncidentFactory)
    posted_at = factory.LazyFunction(timezone.now)
    post_type = "regular"
    content = factory.Sequence(lambda n: f"<p>Title: Update {n}</p><p>User impact: some.</p>")
    fingerprint = factory.LazyAttribute(
        lambda o: hashlib.sha256(f"{o.posted_at.isoformat()}|{o.content}".encode()).hexdigest()
    )


class AffectedCustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AffectedCustomer

    incident = factory.SubFactory(IncidentFactory)
    customer = factory.SubFactory(CustomerFactory)
