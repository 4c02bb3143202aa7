"""The OpenAPI schema as the portal serves it: valid, every operation documented, every example
true to the schema it illustrates."""

import copy

import pytest
from django.urls import reverse
from openapi_schema_validator import (
    OAS30ReadValidator,
    OAS30WriteValidator,
    oas30_format_checker,
)
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

HTTP_METHODS = ("get", "put", "post", "patch", "delete")
# Every operation can meet these: no or a bad token, a role or scope short of it, an area the
# role may not see, too many requests, a bug.
ALWAYS = {"401", "403", "404", "429", "500"}


@pytest.fixture
def schema(client_for):
    response = client_for("global_admin").get(reverse("api-v1:schema"), {"format": "json"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi+json")
    return response.json()


def operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield f"{method.upper()} {path}", method, operation


def test_the_served_schema_is_valid_openapi(schema):
    assert schema["openapi"].startswith("3.0")
    validate(schema)
    # The validator is strict: a response without its required description is refused.
    broken = copy.deepcopy(schema)
    del broken["paths"]["/api/v1/me/"]["get"]["responses"]["200"]["description"]
    with pytest.raises(OpenAPIValidationError):
        validate(broken)


def documentation_problems(schema):
    """What the schema leaves undocumented, one line per gap."""
    problems = []
    for name, method, operation in operations(schema):
        if not operation.get("summary"):
            problems.append(f"{name}: no summary")
        for parameter in operation.get("parameters", []):
            if not parameter.get("description"):
                problems.append(f"{name}: parameter {parameter['name']} has no description")
        body = operation.get("requestBody", {}).get("content", {})
        for media_type, media in body.items():
            if not media.get("examples"):
                problems.append(f"{name}: no example of the {media_type} request body")
        responses = operation["responses"]
        expected = set(ALWAYS)
        if body:
            expected |= {"400", "415"}
        if method == "get":
            expected.add("304")
        missing = expected - set(responses)
        if missing:
            problems.append(f"{name}: responses {sorted(missing)} not documented")
        for status, response in responses.items():
            if not response.get("description"):
                problems.append(f"{name}: response {status} has no description")
            for media_type, media in response.get("content", {}).items():
                if not media.get("examples"):
                    problems.append(f"{name}: no example of the {status} {media_type} body")
        for status in ("429", "503"):
            if status in responses and "Retry-After" not in responses[status].get("headers", {}):
                problems.append(f"{name}: {status} without Retry-After")
        if method == "get":
            if "ETag" not in responses.get("200", {}).get("headers", {}):
                problems.append(f"{name}: 200 without ETag")
            if not any(p["name"] == "If-None-Match" for p in operation.get("parameters", [])):
                problems.append(f"{name}: no If-None-Match")
    return problems


def test_every_operation_parameter_and_response_is_documented(schema):
    assert documentation_problems(schema) == []


def test_api_bodies_are_json_only(schema):
    media_types = {
        media_type
        for _name, _method, operation in operations(schema)
        for media_type in operation.get("requestBody", {}).get("content", {})
    }
    assert media_types == {"application/json"}


def _validator(schema, media_schema, direction):
    # The operation's schema inside a document that has the components its $refs point to.
    document = {**media_schema, "components": schema["components"]}
    cls = OAS30WriteValidator if direction == "request" else OAS30ReadValidator
    return cls(document, format_checker=oas30_format_checker)


def example_problems(schema):
    """Every example that does not validate against its schema, one line per error."""
    problems = []
    checked = 0
    for name, _method, operation in operations(schema):
        bodies = [("request", "request", operation.get("requestBody", {}))]
        bodies += [(status, "response", r) for status, r in operation["responses"].items()]
        for label, direction, holder in bodies:
            for media in holder.get("content", {}).values():
                validator = _validator(schema, media["schema"], direction)
                for example_name, example in media.get("examples", {}).items():
                    checked += 1
                    for error in validator.iter_errors(example["value"]):
                        path = "/".join(str(part) for part in error.absolute_path)
                        problems.append(
                            f"{name} {label} example {example_name!r} at /{path}: {error.message}"
                        )
    return checked, problems


def test_every_example_matches_its_schema(schema):
    checked, problems = example_problems(schema)
    assert checked > 100
    assert problems == []


@pytest.mark.parametrize("path", ["/api/v1/no-such-thing/", "/api/v1/customers/not-a-tenant-id/"])
def test_an_unknown_api_url_answers_the_documented_404(client_for, path):
    # No API view runs here (no URL matches), yet the answer is the schema's ErrorResponse404.
    response = client_for("global_admin").get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "type": "client_error",
        "errors": [{"code": "not_found", "detail": "Not found.", "attr": None}],
    }
