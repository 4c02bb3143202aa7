"""The portal's MFA rule after an Entra sign-in: Entra's MFA counts only when a Global admin
has said Conditional Access enforces it."""

import pytest
from django.test import Client
from django.urls import reverse

from accounts.mfa import session_is_mfa_verified
from tests.sso.helpers import configure, sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def mfa_required(settings):
    settings.MFA_REQUIRED = True


@pytest.mark.parametrize(
    ("enforced", "dashboard_status"), [(False, 302), (True, 200)], ids=["portal-totp", "entra"]
)
def test_entra_mfa_counts_only_when_conditional_access_enforces_it(
    enforced, dashboard_status, entra_simulator, mfa_required
):
    configure(entra_simulator, entra_enforces_mfa=enforced)
    person = entra_simulator.add_user("ida@partner.example", roles=["Portal.HelpdeskAgent"])
    client = Client()
    assert sign_in(client, entra_simulator, person).status_code == 302
    response = client.get(reverse("dashboard:index"))
    assert response.status_code == dashboard_status
    if not enforced:
        # The portal's own second factor follows: enrolment first.
        assert response["Location"] == reverse("mfa_activate_totp")
    request = response.wsgi_request
    assert session_is_mfa_verified(request) is enforced
