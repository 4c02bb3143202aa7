import pytest


@pytest.fixture
def receiver(psa_receiver):
    return psa_receiver


@pytest.fixture
def admin(cast):
    return cast["global_admin"]
