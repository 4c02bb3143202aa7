"""The demo's Microsoft connection for `make run`: connected to the bundled Entra ID simulator
(`run_simulators`, port 8006), which accepts the demo's refresh token, so the connection page
shows a working connection and **Redeem now** renews the token."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from demo.servicehealth import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_PARTNER_TENANT
from microsoft.models import REFRESH_TOKEN_LIFETIME, MicrosoftConnection

ENTRA_SIMULATOR_URL = "http://127.0.0.1:8006"
GRAPH_SIMULATOR_URL = "http://127.0.0.1:8001"
PARTNER_CENTER_SIMULATOR_URL = "http://127.0.0.1:8003"
DEMO_REFRESH_TOKEN = "demo-refresh-token"  # noqa: S105 - the simulator's own demo credential


def load():
    if settings.PRODUCTION:
        raise RuntimeError("Demo data is never loaded in production.")
    connection = MicrosoftConnection.get()
    if connection.refresh_token_encrypted:
        return ["Microsoft connection: already there."]
    # A week old, as if the weekly redemption were due: Redeem now shows the 90 days restart.
    redeemed = timezone.now() - timedelta(days=7)
    connection.tenant_id = DEMO_PARTNER_TENANT
    connection.client_id = DEMO_CLIENT_ID
    connection.login_url = ENTRA_SIMULATOR_URL
    connection.graph_url = GRAPH_SIMULATOR_URL
    connection.partner_center_url = PARTNER_CENTER_SIMULATOR_URL
    connection.client_secret = DEMO_CLIENT_SECRET
    connection.refresh_token = DEMO_REFRESH_TOKEN
    connection.state = MicrosoftConnection.State.CONNECTED
    connection.last_redeemed_at = redeemed
    connection.refresh_expires_at = redeemed + REFRESH_TOKEN_LIFETIME
    connection.save()
    return ["Microsoft connection: connected to the Entra ID simulator."]
