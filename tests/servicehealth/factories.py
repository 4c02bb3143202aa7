import uuid

import factory

from incidents.status import ServiceHealthStatusChoices
from servicehealth.models import FeedSource, Service, TenantServiceHealth
from tests.customers.factories import CustomerFactory

FACTORY_SECRET = "factory-client-secret"


class ServiceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Service
        django_get_or_create = ["graph_id"]

    graph_id = factory.Sequence(lambda n: f"Service{n:04d}")
    name = factory.LazyAttribute(lambda o: f"{o.graph_id} Online")


class FeedSourceFactory(factory.django.DjangoModelFactory):
    """A customer's feed source, its secret set through ``client_secret`` (stored encrypted).

    ``FeedSourceFactory(customer=None)`` is the partner tenant's source;
    ``FeedSourceFactory(client_secret="...")`` sets another secret.
    """

    class Meta:
        model = FeedSource
        skip_postgeneration_save = True

    customer = factory.SubFactory(CustomerFactory)
    name = factory.LazyAttribute(lambda o: f"{o.customer} feed" if o.customer else "Partner feed")
    tenant_id = factory.LazyAttribute(
        lambda o: o.customer.tenant_id if o.customer else uuid.uuid4()
    )
    base_url = "http://127.0.0.1:9/v1.0"
    token_url = "http://127.0.0.1:9/{tenant_id}/oauth2/v2.0/token"
    client_id = "portal-app"

    @factory.post_generation
    def client_secret(self, create, extracted, **kwargs):
        self.client_secret = extracted or FACTORY_SECRET
        if create:
            self.save(update_fields=["client_secret_encrypted"])


class TenantServiceHealthFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TenantServiceHealth

    source = factory.SubFactory(FeedSourceFactory)
    service = factory.SubFactory(ServiceFactory)
    status = ServiceHealthStatusChoices.SERVICE_OPERATIONAL
