"""R5 for the customer sync: every bad answer from Microsoft changes no customer, subscription or
audit entry, is recorded on the run and shown, and the next run (the fault gone) is clean."""

import pytest
from django.urls import reverse

from customers import partner_center_sync
from customers.models import Customer, CustomerSyncRun, PartnerCenterSyncState
from tests.customers.microsoft_world import snapshot

TRUNCATED = b'{"totalCount": 5, "items": [{"id": "'


def _pc(path, status, **more):
    return lambda world: world.partner_center.fail_next(path, status, **more)


def _page(page, status, **more):
    return lambda world: world.partner_center.customers.fail_page(page, status, **more)


def _loop(world):
    world.partner_center.customers.repeat_continuation()


def _subscriptions(world):
    tenant_id = next(iter(world.partner_center.customers.customers))
    world.partner_center.fail_next(f"/v1/customers/{tenant_id}/subscriptions", 503)


def _graph_truncated(world):
    world.graph.fail_next("/v1.0/tenantRelationships/delegatedAdminCustomers", 200, body=TRUNCATED)


FAULTS = {
    # Twice: the client tries a 401 once more with a new token.
    "401": (_pc("/v1/customers", 401, times=2), "refused the access token (401)", True),
    "429 with Retry-After": (
        _pc("/v1/customers", 429, headers={"Retry-After": "120"}),
        "try again in 120 s",
        False,
    ),
    "500": (_pc("/v1/customers", 500), "answered 500", False),
    "truncated JSON": (_page(1, 200, body=TRUNCATED), "not JSON", False),
    "page 2 of 3 fails": (_page(2, 500), "answered 500", False),
    "page without items": (_page(1, 200, body={"totalCount": 5}), "no 'items' list", False),
    "continuation loop": (_loop, "continuation repeats a page", False),
    "a customer's subscriptions": (_subscriptions, "answered 503", False),
    "Graph's GDAP customers truncated": (_graph_truncated, "Graph: ", False),
}


def _world_with_changes(world):
    """Five customers synced once; then Partner Center renames one and adds one, so a run that
    succeeds would change data."""
    tenants = [
        world.add_partner_center_customer(f"Customer {n}", subscriptions=["Microsoft 365 E3"])
        for n in range(5)
    ]
    world.add_gdap_customer("Customer 0", tenant_id=tenants[0])
    partner_center_sync.run()
    world.partner_center.customers.customers[tenants[1]].company_name = "Renamed Ltd"
    world.add_partner_center_customer("Newcomer Ltd")
    return tenants


@pytest.mark.parametrize("fault", FAULTS, ids=list(FAULTS))
def test_a_bad_answer_changes_nothing_is_shown_and_the_next_run_is_clean(
    microsoft_world, client_for, fault
):
    world = microsoft_world
    tenants = _world_with_changes(world)
    script, expected_error, needs_admin = FAULTS[fault]
    before = snapshot()
    script(world)

    with pytest.raises(partner_center_sync.RECORDED_FAILURES):
        partner_center_sync.run()

    assert snapshot() == before
    run = CustomerSyncRun.objects.first()
    assert run.status == "failed" and expected_error in run.error
    state = PartnerCenterSyncState.get()
    assert (state.last_outcome, state.needs_attention) == ("failed", needs_admin)
    assert state.lease_until is None
    listing = client_for("helpdesk_agent").get(reverse("customers:list")).content.decode()
    assert "Reading customers from Microsoft failed; nothing was changed:" in listing
    page = client_for("helpdesk_agent").get(reverse("customers:sync")).content.decode()
    assert expected_error.replace("'", "&#x27;") in page

    world.partner_center.customers.repeat_continuation(False)
    summary = partner_center_sync.run()
    assert summary.added == ["Newcomer Ltd"]
    assert Customer.objects.get(tenant_id=tenants[1]).company_name == "Renamed Ltd"
    assert PartnerCenterSyncState.get().last_outcome == "succeeded"


def test_a_token_revoked_early_is_replaced_once(microsoft_world):
    world = microsoft_world
    world.add_partner_center_customer("Revoked Token Ltd")
    partner_center_sync.run()
    # Entra ID forgets every token it issued: Partner Center answers 401 to the held one.
    world.entra.access_tokens.clear()
    world.add_partner_center_customer("After Revocation Ltd")
    summary = partner_center_sync.run()
    assert summary.added == ["After Revocation Ltd"]
    unauthorised = [r for r in world.partner_center.requests if r[1] == "/v1/customers"]
    # The retry carries the same MS-RequestId with a new token.
    assert unauthorised[-1][2]["MS-RequestId"] == unauthorised[-2][2]["MS-RequestId"]
    assert unauthorised[-1][2]["Authorization"] != unauthorised[-2][2]["Authorization"]
