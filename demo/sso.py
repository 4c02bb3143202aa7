"""The demo's sign-in with Microsoft for `make run`: on, against the bundled Entra ID simulator
(`run_simulators`, port 8006), whose authorize endpoint signs in ``DEMO_ENTRA_USER`` at once:
"Sign in with Microsoft" on the sign-in page creates that Global admin's account. Portal
passwords keep working for the other demo users."""

from django.conf import settings

from demo.microsoft import ENTRA_SIMULATOR_URL
from demo.servicehealth import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_PARTNER_TENANT
from sso import services
from sso.models import SsoSettings

# (email, name, app roles, object id): the person the simulator signs in.
DEMO_ENTRA_USER = (
    "entra.admin@example.com",
    "Elif Entra",
    ["Portal.GlobalAdmin"],
    "7d0f3a52-4b1e-4c55-8f1e-2b6c0e9d4a10",
)


def add_demo_user(entra):
    """Make the Entra ID simulator sign in the demo person (``run_simulators``)."""
    email, name, roles, oid = DEMO_ENTRA_USER
    entra.add_user(email, name=name, roles=roles, oid=oid)


def load():
    if settings.PRODUCTION:
        raise RuntimeError("Demo data is never loaded in production.")
    if SsoSettings.get().configured:
        return ["Sign-in with Microsoft: already set up."]
    services.update_settings(
        actor=None,
        values={
            "enabled": True,
            "tenant_id": DEMO_PARTNER_TENANT,
            "client_id": DEMO_CLIENT_ID,
            "login_url": ENTRA_SIMULATOR_URL,
        },
        client_secret=DEMO_CLIENT_SECRET,
    )
    return [f"Sign-in with Microsoft: on, {DEMO_ENTRA_USER[0]} signs in through the simulator."]
