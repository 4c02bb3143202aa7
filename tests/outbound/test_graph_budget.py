"""The tenants' Graph request budgets (core.outbound.GraphRequestCounter) in the real Redis, in
process memory, and while Redis is down, with the Graph simulator over loopback HTTP; counted a
request at a time, or reserved two at a time as a feed poll does (the same counts)."""

import logging

import pytest
from django.core.cache import caches

from core.cache import FailOpenRedisCache
from core.outbound import GraphRequestCounter, graph_client, transport
from outbound.graph import GraphClient, GraphError
from tests.helpers import unreachable_redis_cache

PATH = "/tenantRelationships/delegatedAdminRelationships"
TWENTY_PAST = 1_800_000_020.0  # 20 s into a minute (and an hour)


def walk(connection, reserve=0):
    """Every page of 20 relationships (10 pages of 2, plus the token), the first ``reserve``
    requests reserved at once."""
    client = graph_client(connection, sleep=lambda s: None, clock=lambda: TWENTY_PAST)
    if reserve:
        client.reserve_requests(reserve)
    return list(client.get_collection(PATH))


# Counted one at a time, or the first two reserved at once: the same requests, the same counts.
one_by_one_or_reserved = pytest.mark.parametrize("reserve", [0, 2])


@pytest.fixture
def relationships(graph_simulator):
    simulator, connection = graph_simulator
    simulator.partner.relationships.extend(
        {"id": f"rel-{n}", "status": "active"} for n in range(20)
    )
    return simulator, connection


def counts(connection):
    keys = {
        "minute": f"graph-requests:{connection.tenant_id}:{int(TWENTY_PAST // 60)}",
        "hour": f"graph-requests:{connection.tenant_id}:hour:{int(TWENTY_PAST // 3600)}",
    }
    return {name: caches["throttle"].get(key) for name, key in keys.items()}


@one_by_one_or_reserved
@pytest.mark.parametrize("counter", ["redis", "process memory"])
def test_a_request_refused_by_the_minute_is_not_counted_in_the_hour(
    relationships, settings, reserve, counter
):
    simulator, connection = relationships
    if counter == "redis":
        assert isinstance(caches["throttle"], FailOpenRedisCache)  # the real Redis
    else:
        settings.CACHES = {
            **settings.CACHES,
            "throttle": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        }
        caches["throttle"].clear()  # process memory outlives a test
    settings.GRAPH_REQUESTS_PER_MINUTE, settings.GRAPH_REQUESTS_PER_HOUR = 4, 100
    with pytest.raises(GraphError, match="4 a minute"):
        walk(connection, reserve)
    assert len(simulator.requests) == 4
    # The fifth request passed the minute's budget and stopped there.
    assert counts(connection) == {"minute": 5, "hour": 4}


@one_by_one_or_reserved
def test_the_hour_budget_refuses_once_spent(relationships, settings, reserve):
    simulator, connection = relationships
    settings.GRAPH_REQUESTS_PER_MINUTE, settings.GRAPH_REQUESTS_PER_HOUR = 100, 3
    with pytest.raises(GraphError, match="3 a hour") as refused:
        walk(connection, reserve)
    assert refused.value.retry_after == 3600 - TWENTY_PAST % 3600
    assert len(simulator.requests) == 3
    assert counts(connection) == {"minute": 4, "hour": 4}


@one_by_one_or_reserved
def test_while_redis_is_down_requests_go_uncounted(relationships, settings, caplog, reserve):
    simulator, connection = relationships
    settings.CACHES = {**settings.CACHES, "throttle": unreachable_redis_cache()}
    settings.GRAPH_REQUESTS_PER_MINUTE = settings.GRAPH_REQUESTS_PER_HOUR = 1
    FailOpenRedisCache.down_until = 0.0
    try:
        with caplog.at_level(logging.WARNING, logger="core.cache"):
            assert len(walk(connection, reserve)) == 20
    finally:
        FailOpenRedisCache.down_until = 0.0
    assert len(simulator.requests) == 11
    assert "unavailable during script" in caplog.text


class CountingCounter(GraphRequestCounter):
    """The shared counter, counting its own round trips."""

    round_trips = 0

    def count(self, windows, requests=1):
        self.round_trips += 1
        return super().count(windows, requests)


def test_a_reservation_counts_two_requests_in_one_round_trip(relationships, settings):
    simulator, connection = relationships
    counter = CountingCounter()
    client = GraphClient(
        connection,
        transport=transport(),
        request_counter=counter,
        requests_per_minute=100,
        requests_per_hour=100,
        clock=lambda: TWENTY_PAST,
    )
    client.reserve_requests(2)
    assert counter.round_trips == 1 and counts(connection) == {"minute": 2, "hour": 2}
    assert len(list(client.get_collection(PATH))) == 20
    # The token and the first page came from the reservation; the nine other pages, one each.
    assert len(simulator.requests) == 11
    assert counter.round_trips == 10
    assert counts(connection) == {"minute": 11, "hour": 11}


def test_a_reservation_the_budget_cannot_take_whole_sends_what_it_takes(relationships):
    simulator, connection = relationships
    caches["throttle"].set(f"graph-requests:{connection.tenant_id}:{int(TWENTY_PAST // 60)}", 3)
    client = GraphClient(
        connection,
        transport=transport(),
        request_counter=GraphRequestCounter(),
        requests_per_minute=4,
        clock=lambda: TWENTY_PAST,
    )
    client.reserve_requests(2)  # one left in this minute: the token's request
    with pytest.raises(GraphError, match="4 a minute"):
        client.get_json(PATH)
    assert [path for _method, path, *_rest in simulator.requests] == [
        f"/{connection.tenant_id}/oauth2/v2.0/token"
    ]
