"""What the apps' API and page tests share: the role matrix's answers, incremental-sync stamps,
following a list's pages, the served schema, an API client as a user, counting a page's queries
and its data writes, and a stub name resolver."""

import socket
import threading
from contextlib import contextmanager
from datetime import timedelta

import requests
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from partnerportal.celery import app

# Who may read the support areas through the API, restated from the role matrix (README, Roles).
SUPPORT_READS = {
    "global_admin": 200,
    "admin_agent": 200,
    "helpdesk_agent": 200,
    "user_management_admin": 404,
    "no_role": 404,
    "anonymous": 401,
}
# The same for the support pages, signed in (an anonymous visitor is sent to sign in).
SUPPORT_PAGES = [
    (principal, status) for principal, status in SUPPORT_READS.items() if status != 401
]
# What only a Global admin may do; everyone else is told it is not there.
ADMIN_ONLY = {
    "global_admin": "ok",
    "admin_agent": 404,
    "helpdesk_agent": 404,
    "user_management_admin": 404,
    "no_role": 404,
    "anonymous": 401,
}
# The same for the administration pages, signed in.
ADMIN_PAGES = [
    (principal, 200 if status == "ok" else status)
    for principal, status in ADMIN_ONLY.items()
    if status != 401
]


class Boom(Exception):
    """Raised inside a transaction in a test to roll it back."""


def assert_write_answer(response, expected, outcome, done=True, untouched=False, ok_status=201):
    """A write by a principal whose role-table entry is ``expected``: with "ok" it answered
    ``ok_status`` and ``outcome`` is ``done``; otherwise it answered ``expected`` and ``outcome``
    is ``untouched``."""
    if expected == "ok":
        assert response.status_code == ok_status
        assert outcome == done
    else:
        assert response.status_code == expected
        assert outcome == untouched


def sync_stamps(cutoff):
    """Times of change around a ``modified_since`` of ``cutoff``, by label: one just before it and
    one at it (neither is after it), three equal ones after it, and a later one."""
    tie = cutoff + timedelta(minutes=1)
    return {
        "before": cutoff - timedelta(microseconds=1),
        "at": cutoff,
        "tie-1": tie,
        "tie-2": tie,
        "tie-3": tie,
        "after": cutoff + timedelta(minutes=2),
    }


def all_pages(client, response):
    """``response`` (a list's first page) and every page after it, following ``next``."""
    pages = [response]
    while (next_url := pages[-1].json()["next"]) is not None:
        pages.append(client.get(next_url))
    return pages


def schema_text(client_for):
    """The API schema as a helpdesk agent is served it."""
    response = client_for("helpdesk_agent").get(reverse("api-v1:schema"))
    assert response.status_code == 200
    return response.content.decode()


def live_schema(live_server, token):
    """The API schema as JSON, as the live server serves it over HTTP to ``token``'s bearer."""
    response = requests.get(
        live_server.url + reverse("api-v1:schema"),
        params={"format": "json"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert response.status_code == 200
    return response.json()


def authenticated_api(user):
    """A DRF test client that makes every request as ``user``."""
    api = APIClient()
    api.force_authenticate(user)
    return api


def key_set(names):
    """The set of the space-separated ``names``: an expected set of many keys, on few lines."""
    return set(names.split())


def query_count(action):
    """How many queries ``action()`` makes."""
    with CaptureQueriesContext(connection) as queries:
        action()
    return len(queries)


def data_writes(queries, *bookkeeping_tables):
    """The INSERT, UPDATE and DELETE statements among captured ``queries``, but for those on
    ``bookkeeping_tables`` (a job's own state, which every run writes)."""
    return [
        query["sql"]
        for query in queries
        if query["sql"].startswith(("INSERT", "UPDATE", "DELETE"))
        and not any(table in query["sql"].split(" WHERE")[0] for table in bookkeeping_tables)
    ]


def query_counter(client, url):
    """Loads ``url`` once, so that what is cached once per process is, and returns a function that
    loads it again and answers (number of queries, response)."""
    client.get(url)

    def count_queries():
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200
        return len(queries), response

    return count_queries


def stub_resolver(*addresses):
    """A getaddrinfo that answers ``addresses`` for any name, without a lookup."""

    def resolve(host, port, *args, **kwargs):
        return [
            (
                socket.AF_INET6 if ":" in address else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (address, port),
            )
            for address in addresses
        ]

    return resolve


def unreachable_redis_cache():
    """A fail-open Redis cache's settings pointing at a loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return {
        "BACKEND": "core.cache.FailOpenRedisCache",
        "LOCATION": f"redis://127.0.0.1:{port}/0",
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }


@contextmanager
def serving(server):
    """Serves ``server`` (a ``socketserver`` server) on a thread for the block, then stops it."""
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _close_worker_thread_sessions(**kwargs):
    if threading.current_thread() is not threading.main_thread():  # not an eager task's caller
        connections.close_all()


@contextmanager
def worker_in_thread(queue):
    """Celery's test worker in a thread of this process (solo pool), taking tasks from ``queue``.
    Its thread closes its database session after each task: a worker keeps the session from task
    to task (partnerportal.celery), this one stops without telling it, and a thread's session
    outlives the thread (the test database could not be dropped at the end)."""
    task_postrun.connect(_close_worker_thread_sessions)
    try:
        with start_worker(
            app, pool="solo", perform_ping_check=False, queues=[queue], loglevel="WARNING"
        ) as worker:
            yield worker
    finally:
        task_postrun.disconnect(_close_worker_thread_sessions)
