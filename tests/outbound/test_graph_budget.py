"""The tenants' Graph request budgets (core.outbound.GraphRequestCounter) in the real Redis, in
process memory, and while Redis is down, with the Graph simulator over loopback HTTP."""

import logging

import pytest
from django.core.cache import caches

from core.cache import FailOpenRedisCache
from core.outbound import graph_client
from outbound.graph import GraphError
from tests.helpers import unreachable_redis_cache

PATH = "/tenantRelationships/delegatedAdminRelationships"
TWENTY_PAST = 1_800_000_020.0  # 20 s into a minute (and an hour)


def walk(connection):
    """Every page of 20 relationships (10 pages of 2, plus the token)."""
    client = graph_client(connection, sleep=lambda s: None, clock=lambda: TWENTY_PAST)
    return list(client.get_collection(PATH))


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


def test_a_request_refused_by_the_minute_is_not_counted_in_the_hour(relationships, settings):
    simulator, connection = relationships
    assert isinstance(caches["throttle"], FailOpenRedisCache)  # the real Redis
    settings.GRAPH_REQUESTS_PER_MINUTE, settings.GRAPH_REQUESTS_PER_HOUR = 4, 100
    with pytest.raises(GraphError, match="4 a minute"):
        walk(connection)
    assert len(simulator.requests) == 4
    # The fifth request passed the minute's budget and stopped there.
    assert counts(connection) == {"minute": 5, "hour": 4}


def test_the_hour_budget_refuses_once_spent(relationships, settings):
    simulator, connection = relationships
    settings.GRAPH_REQUESTS_PER_MINUTE, settings.GRAPH_REQUESTS_PER_HOUR = 100, 3
    with pytest.raises(GraphError, match="3 a hour") as refused:
        walk(connection)
    assert refused.value.retry_after == 3600 - TWENTY_PAST % 3600
    assert len(simulator.requests) == 3
    assert counts(connection) == {"minute": 4, "hour": 4}


def test_in_process_memory_the_budgets_hold_too(relationships, settings):
    simulator, connection = relationships
    settings.CACHES = {
        **settings.CACHES,
        "throttle": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    }
    settings.GRAPH_REQUESTS_PER_MINUTE, settings.GRAPH_REQUESTS_PER_HOUR = 4, 100
    with pytest.raises(GraphError, match="4 a minute"):
        walk(connection)
    assert len(simulator.requests) == 4
    assert counts(connection) == {"minute": 5, "hour": 4}


def test_while_redis_is_down_requests_go_uncounted(relationships, settings, caplog):
    simulator, connection = relationships
    settings.CACHES = {**settings.CACHES, "throttle": unreachable_redis_cache()}
    settings.GRAPH_REQUESTS_PER_MINUTE = settings.GRAPH_REQUESTS_PER_HOUR = 1
    FailOpenRedisCache.down_until = 0.0
    try:
        with caplog.at_level(logging.WARNING, logger="core.cache"):
            assert len(walk(connection)) == 20
    finally:
        FailOpenRedisCache.down_until = 0.0
    assert len(simulator.requests) == 11
    assert "unavailable during script" in caplog.text
