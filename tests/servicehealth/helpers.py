"""Shared by the service health tests."""

from microsoft import services as microsoft


def connect_partner(entra, graph_url):
    """The partner's Microsoft connection, consented against the Entra ID simulator ``entra``,
    with Graph at ``graph_url``."""
    return microsoft.connect(
        actor=None,
        tenant_id=entra.tenant_id,
        client_id=entra.client_id,
        client_secret=entra.client_secret,
        refresh_token=entra.issue_refresh_token(),
        login_url=entra.base_url,
        graph_url=graph_url,
    )
