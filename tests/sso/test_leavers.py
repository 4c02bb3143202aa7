"""The daily leaver check against Graph ``users/{id}``, through the Microsoft connection."""

import pytest
from allauth.usersessions.models import UserSession
from django.test import Client
from knox.models import AuthToken

from accounts.models import User
from core.models import AuditEntry
from simulators.graph import GraphSimulator, PartnerTenant
from simulators.http import SimulatorServer
from sso import leavers
from sso.models import SsoSettings
from tests.microsoft.helpers import connect
from tests.sso.helpers import configure, sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def graph(entra_simulator):
    partner = PartnerTenant(
        entra_simulator.tenant_id, entra_simulator.client_id, entra_simulator.client_secret
    )
    with SimulatorServer(GraphSimulator(partner, entra=entra_simulator)) as server:
        yield server


def signed_up(entra, email):
    person = entra.add_user(email, roles=["Portal.HelpdeskAgent"])
    assert sign_in(Client(), entra, person).status_code == 302
    return person, User.objects.get(email=email)


def test_disabled_and_removed_people_are_deactivated(entra_simulator, graph):
    configure(entra_simulator)
    connect(entra_simulator, graph_url=graph.url)
    stays, stayer = signed_up(entra_simulator, "lu@partner.example")
    disabled, leaver = signed_up(entra_simulator, "mo@partner.example")
    removed, gone = signed_up(entra_simulator, "ned@partner.example")
    AuthToken.objects.create(user=leaver, expiry=None)
    assert UserSession.objects.filter(user=leaver).exists()
    entra_simulator.set_enabled(disabled, False)
    entra_simulator.remove_user(removed)

    result = leavers.sweep()

    assert result == "3 checked, 2 deactivated."
    for user in (stayer, leaver, gone):
        user.refresh_from_db()
    assert (stayer.is_active, leaver.is_active, gone.is_active) == (True, False, False)
    assert not AuthToken.objects.filter(user=leaver).exists()
    assert not UserSession.objects.filter(user=leaver).exists()
    states = {
        entry.target_id: entry.after["entra"]
        for entry in AuditEntry.objects.filter(action="staff.sso_deactivated")
    }
    assert states == {str(leaver.pk): "disabled", str(gone.pk): "removed"}
    assert SsoSettings.get().last_sweep_result == result
    # And the next sign-in of the disabled person is refused: their account is deactivated.
    assert sign_in(Client(), entra_simulator, disabled).status_code == 403


def test_without_the_microsoft_connection_the_sweep_is_skipped(entra_simulator, graph):
    configure(entra_simulator)
    person, user = signed_up(entra_simulator, "ola@partner.example")
    entra_simulator.remove_user(person)
    result = leavers.sweep()
    assert result.startswith("Skipped")
    user.refresh_from_db()
    assert user.is_active
    assert graph.app.requests == []
    assert SsoSettings.get().last_sweep_result == result
