"""An unreachable Redis or PostgreSQL is a clean 503 with Retry-After, in the API's error shape
under /api/, whichever layer (view, DRF, middleware) ran into it: never a 500."""

import json
import logging
from contextlib import contextmanager

import pytest
from django.db import InterfaceError, OperationalError, connection
from django.test import Client, RequestFactory
from redis.exceptions import ConnectionError as RedisConnectionError

from accounts.roles import Role
from core.middleware import ServiceUnavailableMiddleware
from core.views import server_error

INCIDENTS = "/api/v1/incidents/"
SERVICE_REQUESTS = "/api/v1/service-requests/"

middleware = ServiceUnavailableMiddleware(lambda request: None)


def test_api_requests_get_the_api_error_shape():
    request = RequestFactory().post("/api/v1/service-requests/")
    response = middleware.process_exception(request, RedisConnectionError("down"))
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    body = json.loads(response.content)
    assert body["errors"][0]["code"] == "service_unavailable"


def test_pages_get_a_short_explanation():
    request = RequestFactory().post("/accounts/login/")
    response = middleware.process_exception(request, RedisConnectionError("down"))
    assert response.status_code == 503
    assert b"Temporarily unavailable" in response.content


def test_other_errors_are_left_to_the_500_handler():
    request = RequestFactory().get("/")
    assert middleware.process_exception(request, ValueError("bug")) is None


# --- PostgreSQL unreachable ---------------------------------------------------------------------
# The database "goes away" at the query layer: every statement of this thread's connection raises
# what psycopg raises when the server is gone, with a message naming a host that must not leak.

DRIVER_MESSAGE = 'connection to server at "db-internal.example" (10.9.8.7), port 5432 failed'


@contextmanager
def database_away():
    def refuse(execute, sql, params, many, context):
        raise OperationalError(DRIVER_MESSAGE)

    with connection.execute_wrapper(refuse):
        yield


def assert_generic_503(response, caplog):
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    text = response.content.decode()
    assert "db-internal" not in text and "10.9.8.7" not in text and "Traceback" not in text
    # One warning naming the exception's type only; no error with a traceback.
    logged = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.levelno for r in logged] == [logging.WARNING], [r.getMessage() for r in logged]
    assert "OperationalError" in logged[0].getMessage()
    assert "db-internal" not in logged[0].getMessage() and not logged[0].exc_info


@pytest.mark.parametrize("method, path", [("get", INCIDENTS), ("post", SERVICE_REQUESTS)])
def test_an_api_view_that_cannot_reach_the_database_answers_503(
    method, path, api_token_for, caplog
):
    token = api_token_for(Role.HELPDESK_AGENT)
    api = Client(raise_request_exception=False)
    with database_away(), caplog.at_level(logging.WARNING):
        response = getattr(api, method)(
            path, {}, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
        )
    assert_generic_503(response, caplog)
    body = response.json()
    assert body["type"] == "server_error"
    assert body["errors"] == [
        {
            "code": "service_unavailable",
            "detail": "Temporarily unavailable; try again shortly.",
            "attr": None,
        }
    ]


def test_a_middleware_that_cannot_reach_the_database_gives_the_503_page(client_for, caplog):
    # Signed in: the session middleware's lazy load fails inside the session-timeout middleware,
    # before any view runs; Django answers through handler500.
    signed_in = client_for("helpdesk_agent")
    signed_in.raise_request_exception = False
    with database_away(), caplog.at_level(logging.WARNING):
        response = signed_in.get("/")
    assert_generic_503(response, caplog)
    assert b"Temporarily unavailable" in response.content
    assert b"signing in is paused" not in response.content  # that is the cache's explanation


def test_a_middleware_failure_under_the_api_keeps_the_api_error_shape(client_for, caplog):
    signed_in = client_for("helpdesk_agent")
    signed_in.raise_request_exception = False
    with database_away(), caplog.at_level(logging.WARNING):
        response = signed_in.get(INCIDENTS)
    assert_generic_503(response, caplog)
    assert response.json()["errors"][0]["code"] == "service_unavailable"


@pytest.mark.parametrize("error", [OperationalError(DRIVER_MESSAGE), InterfaceError("closed")])
def test_the_500_handler_answers_503_for_an_unreachable_database(error):
    request = RequestFactory().get("/customers/")
    try:
        raise error
    except type(error):
        response = server_error(request)
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert b"db-internal" not in response.content


def test_the_500_handler_still_answers_500_for_a_bug():
    request = RequestFactory().get("/api/v1/incidents/")
    try:
        raise ValueError("bug")
    except ValueError:
        response = server_error(request)
    assert response.status_code == 500
    assert json.loads(response.content)["errors"][0]["code"] == "error"


def test_the_middleware_answers_503_for_an_unreachable_database():
    request = RequestFactory().get("/api/v1/incidents/")
    response = middleware.process_exception(request, OperationalError(DRIVER_MESSAGE))
    assert response.status_code == 503
    assert json.loads(response.content)["errors"][0]["code"] == "service_unavailable"
