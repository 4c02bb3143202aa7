"""Connecting the portal to the Entra ID simulator, for the Microsoft connection's tests."""

from microsoft import services
from microsoft.models import MicrosoftConnection


def connect(simulator, actor=None, refresh_token=None):
    """Connect with the simulator's app and a freshly consented refresh token; returns the
    connection and the refresh token given."""
    token = refresh_token or simulator.issue_refresh_token()
    connection = services.connect(
        actor=actor,
        tenant_id=simulator.tenant_id,
        client_id=simulator.client_id,
        client_secret=simulator.client_secret,
        refresh_token=token,
        login_url=simulator.base_url,
    )
    return connection, token


def stored():
    return MicrosoftConnection.objects.get(pk=1)
