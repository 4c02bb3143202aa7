"""Access tokens in customer tenants: the partner's refresh token redeemed where GDAP reaches,
cached per (tenant, scope); a tenant's refusal is that tenant's, a dead token the connection's."""

import pytest

from microsoft import services
from microsoft.models import MicrosoftConnection
from outbound.entra import GRAPH_SCOPE, EntraError
from tests.microsoft.helpers import connect, stored

pytestmark = pytest.mark.django_db
CUSTOMER = "aaaaaaaa-0000-0000-0000-000000000001"
OTHER = "aaaaaaaa-0000-0000-0000-000000000002"


def token_requests(simulator, tenant):
    return [r for r in simulator.requests if r[1] == f"/{tenant}/oauth2/v2.0/token"]


def test_a_customer_token_is_redeemed_in_the_customer_tenant_and_cached(entra_simulator):
    connect(entra_simulator)
    entra_simulator.add_customer_tenant(CUSTOMER)
    token = services.access_token(GRAPH_SCOPE, tenant_id=CUSTOMER)
    assert entra_simulator.token_info(token) == (CUSTOMER, GRAPH_SCOPE)
    assert services.access_token(GRAPH_SCOPE, tenant_id=CUSTOMER) == token
    assert len(token_requests(entra_simulator, CUSTOMER)) == 1
    entra_simulator.add_customer_tenant(OTHER)
    other = services.access_token(GRAPH_SCOPE, tenant_id=OTHER)
    assert entra_simulator.token_info(other)[0] == OTHER


def test_a_tenant_that_refuses_is_reported_and_leaves_the_connection_connected(entra_simulator):
    connect(entra_simulator)
    entra_simulator.add_customer_tenant(
        CUSTOMER, refusal=(50020, "User account from identity provider does not exist in tenant.")
    )
    with pytest.raises(EntraError) as refusal:
        services.access_token(GRAPH_SCOPE, tenant_id=CUSTOMER)
    assert not refusal.value.refresh_token_dead
    assert "GDAP relationship" in str(refusal.value)
    assert stored().state == MicrosoftConnection.State.CONNECTED
    assert stored().last_error == ""


def test_a_revoked_token_in_a_customer_tenant_breaks_the_connection(entra_simulator, mailoutbox):
    _connection, token = connect(entra_simulator)
    entra_simulator.add_customer_tenant(CUSTOMER)
    entra_simulator.revoke(stored().refresh_token)
    with pytest.raises(EntraError) as refusal:
        services.access_token(GRAPH_SCOPE, tenant_id=CUSTOMER)
    assert refusal.value.refresh_token_dead
    assert stored().state == MicrosoftConnection.State.BROKEN


def test_no_customer_token_before_consent(entra_simulator):
    entra_simulator.add_customer_tenant(CUSTOMER)
    with pytest.raises(services.NotConnected):
        services.access_token(GRAPH_SCOPE, tenant_id=CUSTOMER)
    assert token_requests(entra_simulator, CUSTOMER) == []
    assert services.connection_ready() is False


def test_a_held_token_is_given_without_reading_the_database(
    entra_simulator, django_assert_num_queries
):
    """Every Graph request asks for its token: a held one must not cost a query."""
    connect(entra_simulator)
    entra_simulator.add_customer_tenant(CUSTOMER)
    customer = services.access_token(GRAPH_SCOPE, tenant_id=CUSTOMER)
    partner = services.access_token(GRAPH_SCOPE)
    with django_assert_num_queries(0):
        assert services.access_token(GRAPH_SCOPE, tenant_id=CUSTOMER) == customer
        assert services.access_token(GRAPH_SCOPE) == partner
        assert services.access_token(GRAPH_SCOPE, tenant_id=entra_simulator.tenant_id) == partner
