"""The Graph client against the bundled simulator over real HTTP on loopback."""

from datetime import UTC, datetime

import pytest

from core.outbound import graph_client
from outbound import graph
from outbound.graph import GraphAuthError, GraphError, parse_datetime

PATH = "/tenantRelationships/delegatedAdminRelationships"


def make_client(connection, waits=None, **kwargs):
    return graph_client(
        connection, sleep=(waits.append if waits is not None else lambda s: None), **kwargs
    )


def add_relationships(simulator, count):
    simulator.partner.relationships.extend(
        {"id": f"rel-{n}", "status": "active"} for n in range(count)
    )


def test_it_follows_next_links_until_they_end(graph_simulator):
    simulator, connection = graph_simulator
    add_relationships(simulator, 5)
    items = list(make_client(connection).get_collection(PATH))
    assert [item["id"] for item in items] == [f"rel-{n}" for n in range(5)]
    pages = [r for r in simulator.requests if r[1].endswith("delegatedAdminRelationships")]
    assert len(pages) == 3  # page size 2


def test_the_token_is_fetched_once_and_cached(graph_simulator):
    simulator, connection = graph_simulator
    add_relationships(simulator, 3)
    list(make_client(connection).get_collection(PATH))
    list(make_client(connection).get_collection(PATH))
    token_calls = [r for r in simulator.requests if r[0] == "POST"]
    assert len(token_calls) == 1
    assert all(
        r[3].get("Authorization", "").startswith("Bearer sim-")
        for r in simulator.requests
        if r[0] == "GET"
    )


def test_a_revoked_token_is_replaced_once(graph_simulator):
    simulator, connection = graph_simulator
    add_relationships(simulator, 1)
    list(make_client(connection).get_collection(PATH))
    simulator.revoke_tokens()
    assert len(list(make_client(connection).get_collection(PATH))) == 1
    assert len([r for r in simulator.requests if r[0] == "POST"]) == 2


def test_429_honours_retry_after(graph_simulator):
    simulator, connection = graph_simulator
    add_relationships(simulator, 1)
    simulator.fail_next("/v1.0/", 429, {"Retry-After": "2.5"})
    simulator.fail_next("/v1.0/", 503, {"Retry-After": "1"})
    waits = []
    assert len(list(make_client(connection, waits).get_collection(PATH))) == 1
    assert waits == [2.5, 1.0]


def test_other_5xx_retry_with_backoff_then_give_up(graph_simulator):
    simulator, connection = graph_simulator
    simulator.fail_next("/v1.0/", 500, times=4)
    waits = []
    with pytest.raises(GraphError, match="500"):
        list(make_client(connection, waits, max_attempts=4).get_collection(PATH))
    assert len(waits) == 3
    assert waits == sorted(waits)


@pytest.mark.parametrize("status", [401, 403])
def test_refusals_are_permanent_and_say_what_to_fix(status, graph_simulator):
    simulator, connection = graph_simulator
    simulator.fail_next("/v1.0/", status, times=2)
    with pytest.raises(GraphAuthError) as caught:
        list(make_client(connection).get_collection(PATH))
    assert caught.value.permanent is True
    assert "consent" in str(caught.value)


def test_a_wrong_secret_is_a_permanent_error(graph_simulator):
    from dataclasses import replace

    _simulator, connection = graph_simulator
    with pytest.raises(GraphAuthError, match="client id, secret"):
        list(make_client(replace(connection, client_secret="wrong")).get_collection(PATH))


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"value": [{"id": "a"}', "application/json"),
        (b"<html>Service Unavailable</html>", "text/html"),
        (b'["not", "an", "object"]', "application/json"),
        (b'{"items": []}', "application/json"),
    ],
)
def test_bodies_that_are_not_graph_json_are_errors(body, content_type, graph_simulator):
    simulator, connection = graph_simulator
    simulator.fail_next("/v1.0/", 200, {"Content-Type": content_type}, body=body)
    with pytest.raises(GraphError):
        list(make_client(connection).get_collection(PATH))


def test_a_next_link_to_another_host_is_not_followed(graph_simulator):
    simulator, connection = graph_simulator
    simulator.fail_next(
        "/v1.0/",
        200,
        body=b'{"value": [], "@odata.nextLink": "http://127.0.0.2:9/v1.0/steal"}',
    )
    with pytest.raises(GraphError, match="another host"):
        list(make_client(connection).get_collection(PATH))


def test_a_next_link_loop_stops(graph_simulator):
    simulator, connection = graph_simulator
    loop = (
        f'{{"value": [], "@odata.nextLink": "{connection.base_url}{PATH}?$skiptoken=9"}}'.encode()
    )
    simulator.fail_next("/v1.0/", 200, body=loop, times=3)
    with pytest.raises(GraphError, match="repeats"):
        list(make_client(connection).get_collection(PATH))


def test_a_slow_answer_times_out(graph_simulator):
    simulator, connection = graph_simulator
    simulator.fail_next("/v1.0/", 200, body=b'{"value": []}', delay=1.5, times=2)
    with pytest.raises(GraphError, match="did not answer in time"):
        list(make_client(connection, timeout=(1, 0.5), max_attempts=2).get_collection(PATH))


def test_a_huge_body_is_refused(graph_simulator, monkeypatch):
    simulator, connection = graph_simulator
    monkeypatch.setattr(graph, "MAX_BODY_BYTES", 1000)
    simulator.fail_next("/v1.0/", 200, body=b'{"value": ["' + b"x" * 5000 + b'"]}')
    with pytest.raises(GraphError, match="larger than"):
        list(make_client(connection).get_collection(PATH))


def test_graph_timestamps_with_seven_digits_parse():
    parsed = parse_datetime("2022-02-10T11:26:44.9941884Z")
    assert parsed == datetime(2022, 2, 10, 11, 26, 44, 994188, tzinfo=UTC)
    assert parse_datetime("garbage") is None
    assert parse_datetime(None) is None


def test_a_tenant_gets_no_more_requests_a_minute_than_its_budget(graph_simulator, settings):
    simulator, connection = graph_simulator
    add_relationships(simulator, 20)  # 10 pages of 2, plus the token
    settings.GRAPH_REQUESTS_PER_MINUTE = 4
    twenty_past = 1_800_000_020.0  # 20 s into a minute, for every client below
    with pytest.raises(GraphError, match="request budget") as refused:
        list(make_client(connection, clock=lambda: twenty_past).get_collection(PATH))
    assert refused.value.retry_after == 40
    assert len(simulator.requests) <= 4
    # Another client of the same tenant (another worker) shares the budget.
    sent = len(simulator.requests)
    with pytest.raises(GraphError, match="request budget"):
        list(make_client(connection, clock=lambda: twenty_past).get_collection(PATH))
    assert len(simulator.requests) == sent
    # The next minute has a budget again: four more requests.
    with pytest.raises(GraphError, match="request budget"):
        list(make_client(connection, clock=lambda: twenty_past + 60).get_collection(PATH))
    assert len(simulator.requests) == sent + 4
