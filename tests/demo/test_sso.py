"""`make run`'s sign-in with Microsoft: on in the demo data, and the simulator signs in the demo
Global admin."""

import pytest
from django.core.management import call_command
from django.test import Client

from accounts.models import User
from accounts.roles import Role
from demo import sso as demo_sso
from demo.microsoft import ENTRA_SIMULATOR_URL
from sso.models import SsoSettings
from tests.sso.helpers import sign_in

pytestmark = pytest.mark.django_db


def test_the_demo_signs_in_its_entra_admin(entra_simulator):
    call_command("sync_roles", verbosity=0)
    assert demo_sso.load()[0].startswith("Sign-in with Microsoft: on")
    settings = SsoSettings.get()
    assert (settings.enabled, settings.login_url) == (True, ENTRA_SIMULATOR_URL)
    assert demo_sso.load() == ["Sign-in with Microsoft: already set up."]
    # The demo's simulator on a free port instead of 8006, with the demo's person.
    SsoSettings.objects.filter(pk=settings.pk).update(
        login_url=entra_simulator.base_url,
        tenant_id=entra_simulator.tenant_id,
        client_id=entra_simulator.client_id,
    )
    settings.refresh_from_db()
    settings.client_secret = entra_simulator.client_secret
    settings.save()
    demo_sso.add_demo_user(entra_simulator)
    assert sign_in(Client(), entra_simulator).status_code == 302
    admin = User.objects.get(email=demo_sso.DEMO_ENTRA_USER[0])
    assert admin.roles == [Role.GLOBAL_ADMIN]
