"""The Entra ID simulator's sign-in half: discovery, keys, and the id_tokens it signs."""

import jwt
import pytest
import requests

from simulators.entra_oidc import BAD_ID_TOKENS
from simulators.graph import GraphSimulator, PartnerTenant
from simulators.http import SimulatorServer


def _discovery(entra):
    url = f"{entra.base_url}/{entra.tenant_id}/v2.0/.well-known/openid-configuration"
    return requests.get(url, timeout=10).json()


def _verify(entra, token):
    config = _discovery(entra)
    keys = requests.get(config["jwks_uri"], timeout=10).json()["keys"]
    key = jwt.PyJWK(keys[0]).key
    return jwt.decode(
        token, key, algorithms=["RS256"], audience=entra.client_id, issuer=config["issuer"]
    )


def test_a_good_id_token_verifies_against_the_published_keys(entra_simulator):
    person = entra_simulator.add_user("pia@partner.example", roles=["Portal.AdminAgent"])
    token = entra_simulator.oidc.id_token(entra_simulator.base_url, person["oid"], "n-1")
    claims = _verify(entra_simulator, token)
    assert claims["tid"] == entra_simulator.tenant_id
    assert claims["roles"] == ["Portal.AdminAgent"]
    assert claims["nonce"] == "n-1"
    assert claims["ver"] == "2.0"


@pytest.mark.parametrize(
    ("mode", "error"),
    [
        ("wrong_audience", jwt.InvalidAudienceError),
        ("wrong_issuer", jwt.InvalidIssuerError),
        ("foreign_tenant", jwt.InvalidIssuerError),
        ("expired", jwt.ExpiredSignatureError),
        ("foreign_key", jwt.InvalidSignatureError),
    ],
)
def test_each_bad_id_token_fails_its_check(mode, error, entra_simulator):
    person = entra_simulator.add_user("quinn@partner.example")
    token = entra_simulator.oidc.id_token(entra_simulator.base_url, person["oid"], "n", mode)
    with pytest.raises(error):
        _verify(entra_simulator, token)


def test_a_replayed_nonce_is_the_first_one_seen(entra_simulator):
    person = entra_simulator.add_user("ria@partner.example")
    base = entra_simulator.base_url
    entra_simulator.oidc.id_token(base, person["oid"], "first")
    token = entra_simulator.oidc.id_token(base, person["oid"], "second", "replayed_nonce")
    assert _verify(entra_simulator, token)["nonce"] == "first"
    assert "replayed_nonce" in BAD_ID_TOKENS


def test_another_tenants_discovery_is_refused(entra_simulator):
    url = f"{entra_simulator.base_url}/{'0' * 8}-0000-0000-0000-{'0' * 12}/v2.0/.well-known/openid-configuration"
    assert requests.get(url, timeout=10).status_code == 400


def test_the_graph_simulator_answers_for_the_partner_tenants_people(entra_simulator):
    """make run serves the leaver check from the one Graph host: its demo user stays enabled."""
    entra = entra_simulator
    person = entra.add_user("someone@partner.example", roles=["Portal.HelpdeskAgent"])
    graph = GraphSimulator(PartnerTenant(entra.tenant_id, "portal-app", "s"), entra=entra)
    token = "sim-at-for-the-partner"
    entra.access_tokens[token] = (entra.tenant_id, "https://graph.microsoft.com/.default")
    headers = {"Authorization": f"Bearer {token}"}
    with SimulatorServer(graph) as server:
        url = f"{server.url}/v1.0/users/{person['oid']}"
        assert requests.get(url, headers=headers, timeout=5).json()["accountEnabled"] is True
        entra.set_enabled(person, False)
        assert requests.get(url, headers=headers, timeout=5).json()["accountEnabled"] is False
        gone = requests.get(f"{server.url}/v1.0/users/nobody", headers=headers, timeout=5)
        assert gone.status_code == 404
