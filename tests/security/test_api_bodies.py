"""Hostile JSON bodies sent to the API by a signed-in Global admin: a client error, never a
server error, and nothing written."""

import pytest
from django.urls import reverse

from servicerequests.models import ServiceRequest

NESTED_TOO_DEEP = b'{"a": ' * 5000 + b"1" + b"}" * 5000
ARRAY_TOO_DEEP = b"[" * 20000 + b"]" * 20000
WRITABLE_LISTS = [
    "api-v1:service-request-list",
    "api-v1:customer-list",
    "api-v1:channel-list",
    "api-v1:routing-rule-list",
    "api-v1:routing-rule-test",
    "api-v1:webhook-list",
    "api-v1:psa-mapping-list",
]


@pytest.mark.parametrize("body", [NESTED_TOO_DEEP, ARRAY_TOO_DEEP], ids=["object", "array"])
@pytest.mark.parametrize("name", WRITABLE_LISTS)
def test_json_nested_too_deeply_is_a_parse_error(admin_api, name, body):
    admin_api.raise_request_exception = False
    response = admin_api.post(reverse(name), body, content_type="application/json")
    assert response.status_code == 400, response.content[:300]
    assert response.json()["errors"][0]["code"] == "parse_error"
    assert not ServiceRequest.objects.exists()
