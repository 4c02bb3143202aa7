import pytest

from tests.customers.microsoft_world import serving


@pytest.fixture
def microsoft_world(db, entra_simulator):
    """Partner Center and Graph simulators for the partner connected through the Entra ID
    simulator (tests.customers.microsoft_world.serving)."""
    with serving(entra_simulator) as world:
        yield world
