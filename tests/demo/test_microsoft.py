"""`make run`'s Microsoft connection: the demo stores one connected to the Entra ID simulator,
and the simulator as `run_simulators` serves it accepts the demo's refresh token."""

from django.core.management import call_command

from demo.microsoft import DEMO_REFRESH_TOKEN
from demo.servicehealth import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_PARTNER_TENANT
from microsoft import services
from microsoft.models import MicrosoftConnection
from simulators.entra import EntraSimulator
from simulators.http import SimulatorServer


def test_the_demo_connection_redeems_against_the_simulator(db, capsys):
    call_command("load_demo")
    call_command("load_demo")
    assert "Microsoft connection: already there." in capsys.readouterr().out
    connection = MicrosoftConnection.get()
    assert connection.state == MicrosoftConnection.State.CONNECTED
    assert connection.refresh_token == DEMO_REFRESH_TOKEN

    simulator = EntraSimulator(
        tenant_id=DEMO_PARTNER_TENANT, client_id=DEMO_CLIENT_ID, client_secret=DEMO_CLIENT_SECRET
    )
    simulator.issue_refresh_token(DEMO_REFRESH_TOKEN)
    with SimulatorServer(simulator) as server:
        # The demo points at port 8006; this test serves the same simulator on a free port.
        MicrosoftConnection.objects.filter(pk=connection.pk).update(login_url=server.url)
        services.clear_access_tokens()
        services.redeem_refresh_token()
    services.clear_access_tokens()

    renewed = MicrosoftConnection.get()
    assert renewed.state == MicrosoftConnection.State.CONNECTED
    assert renewed.refresh_token not in ("", DEMO_REFRESH_TOKEN)
    assert renewed.refresh_token in simulator.refresh_tokens
    assert renewed.last_redeemed_at > connection.last_redeemed_at
    (_, path, form) = simulator.requests[-1]
    assert path == f"/{DEMO_PARTNER_TENANT}/oauth2/v2.0/token"
    assert form["refresh_token"] == DEMO_REFRESH_TOKEN
