"""An unreachable Redis is a clean 503 with Retry-After, in the API's error shape under /api/."""

import json

from django.test import RequestFactory
from redis.exceptions import ConnectionError as RedisConnectionError

from core.middleware import ServiceUnavailableMiddleware

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
