"""The app-only option: the partner's app consented in a customer tenant through Partner Center
(over real HTTP to its simulator), then the source reads app-only."""

import json

import pytest
from django.urls import reverse

from core.models import AuditEntry
from microsoft.models import MicrosoftConnection
from servicehealth import connection_sources
from servicehealth.app_consent import GRAPH_APPLICATION_ID
from servicehealth.models import AuthMode, FeedSource
from simulators.http import SimulatorServer
from simulators.partner_center.server import PartnerCenterSimulator
from tests.servicehealth.factories import FeedSourceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(gdap_health):
    simulator, entra, add_customer = gdap_health
    partner_center = PartnerCenterSimulator(token=None, entra=entra)
    with SimulatorServer(partner_center) as server:
        MicrosoftConnection.objects.filter(pk=1).update(partner_center_url=server.url)
        customer = add_customer(company_name="Fabrikam")
        partner_center.customers.add(
            str(customer.tenant_id), "Fabrikam", domain="fab.onmicrosoft.com"
        )
        connection_sources.add_missing()
        yield partner_center, FeedSource.objects.get(customer=customer)


def consent(client, source):
    return client.post(reverse("servicehealth:feed_consent_app", args=[source.pk]), follow=True)


def test_the_app_is_consented_in_the_tenant_and_the_source_reads_app_only(client_for, cast, world):
    partner_center, source = world
    response = consent(client_for("global_admin"), source)
    assert "read app-only now" in response.content.decode()
    posted = [
        (path, json.loads(body))
        for method, path, _headers, body in partner_center.requests
        if method == "POST"
    ]
    assert posted == [
        (
            f"/v1/customers/{source.tenant_id}/applicationconsents",
            {
                "applicationId": MicrosoftConnection.get().client_id,
                "applicationGrants": [
                    {
                        "enterpriseApplicationId": GRAPH_APPLICATION_ID,
                        "scope": "ServiceHealth.Read.All,ServiceMessage.Read.All",
                    }
                ],
            },
        )
    ]
    source.refresh_from_db()
    assert source.auth_mode == AuthMode.APP_PER_TENANT
    entry = AuditEntry.objects.get(action="feed_source.app_consented")
    assert entry.actor == cast["global_admin"]


def test_an_app_consented_already_is_the_same_outcome(client_for, world):
    partner_center, source = world
    consent(client_for("global_admin"), source)
    FeedSource.objects.filter(pk=source.pk).update(auth_mode=AuthMode.DELEGATED)
    response = consent(client_for("global_admin"), source)
    assert "read app-only now" in response.content.decode()
    source.refresh_from_db()
    assert source.auth_mode == AuthMode.APP_PER_TENANT


def test_a_refusal_is_shown_and_changes_nothing(client_for, world):
    partner_center, source = world
    partner_center.fail_next("/v1/customers/", 403)
    response = consent(client_for("global_admin"), source)
    assert "was not consented in this tenant" in response.content.decode()
    source.refresh_from_db()
    assert source.auth_mode == AuthMode.DELEGATED
    assert not AuditEntry.objects.filter(action="feed_source.app_consented").exists()


def test_before_the_connection_it_says_so_and_asks_nothing(client_for, db):
    source = FeedSourceFactory(auth_mode=AuthMode.DELEGATED)
    response = consent(client_for("global_admin"), source)
    assert "Connect Microsoft first" in response.content.decode()
    source.refresh_from_db()
    assert source.auth_mode == AuthMode.DELEGATED
