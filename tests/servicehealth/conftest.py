import pytest

from outbound.graph import clear_token_cache
from simulators.http import SimulatorServer
from simulators.service_health.model import SERVICES
from simulators.service_health.server import ServiceHealthSimulator
from tests.customers.factories import CustomerFactory
from tests.microsoft.helpers import connect


@pytest.fixture
def gdap_health(db, entra_simulator):
    """The partner's Microsoft connection, consented against the Entra ID simulator, with
    Graph's service communications served by a simulator that takes the tokens Entra redeemed
    in customer tenants.

    Yields ``(simulator, entra, add_customer)``: ``add_customer(refusal=None, **fields)`` makes a
    customer whose tenant the simulators know (``refusal``: Entra ID's (AADSTS code, text) for
    it) and returns it.
    """
    simulator = ServiceHealthSimulator(page_size=5, entra=entra_simulator)
    for service_id, spec in SERVICES.items():
        simulator.add_service(service_id, spec[0])
    clear_token_cache()
    with SimulatorServer(simulator) as server:
        connect(entra_simulator, graph_url=server.url)

        def add_customer(refusal=None, **fields):
            customer = CustomerFactory(**fields)
            # The app's own credentials there, for the app-only mode.
            simulator.add_tenant(
                str(customer.tenant_id),
                client_id=entra_simulator.client_id,
                client_secret=entra_simulator.client_secret,
            )
            entra_simulator.add_customer_tenant(str(customer.tenant_id), refusal=refusal)
            return customer

        yield simulator, entra_simulator, add_customer
    clear_token_cache()
