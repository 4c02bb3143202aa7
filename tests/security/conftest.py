import pytest
from rest_framework.test import APIClient


@pytest.fixture
def admin_api(cast):
    """The API as the cast's Global admin."""
    client = APIClient()
    client.force_authenticate(cast["global_admin"])
    return client
