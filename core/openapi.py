"""The API's OpenAPI description: what every operation shares, stated once.

drf-spectacular describes each operation from its view and serializers, and drf-standardized-errors
adds the error responses. ``PortalAutoSchema`` keeps only the errors an operation can really give
and documents validation errors with one open shape (clients must accept codes added later).
``postprocess`` (a ``POSTPROCESSING_HOOKS`` entry) adds what no view states itself: a description
of every response, a realistic 400 example, ``Retry-After`` on 429 and 503, ``ETag`` /
``If-None-Match`` / 304 on every read, and what the pagination parameters mean.

Views add what only they know: a summary, their request and response examples (on the
serializers, through ``examples``), and errors of their own (409, 422, 503).
"""

import re

from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema_serializer,
)
from drf_standardized_errors.openapi import AutoSchema
from drf_standardized_errors.openapi_serializers import (
    ClientErrorEnum,
    ParseErrorResponseSerializer,
    ServerErrorEnum,
    ValidationErrorEnum,
)
from rest_framework import serializers

# The help text of a field that carries one of Microsoft's vocabularies as sent.
GROWING_NOTE = "Kept as Microsoft sent it: values Microsoft adds later appear as they are."

BODY_METHODS = ("POST", "PUT", "PATCH")
HTTP_METHODS = ("get", "put", "post", "patch", "delete")
# Where the examples' links point: one made-up portal, so examples read as one story.
EXAMPLE_API = "https://portal.partner.example/api/v1"
SUCCESS_STATUSES = ("200", "201", "202")


def examples(summary, *, request=None, response=None):
    """``extend_schema_serializer`` with an example of what a client sends and of what it gets.

    Wherever the serializer is a body, the schema shows these (lists and pages wrap the response
    example); a view's own ``examples`` take precedence.
    """
    found = []
    if request is not None:
        found.append(OpenApiExample(summary, value=request, request_only=True))
    if response is not None:
        found.append(
            OpenApiExample(
                summary, value=response, response_only=True, status_codes=SUCCESS_STATUSES
            )
        )
    return extend_schema_serializer(examples=found)


# --- error bodies -------------------------------------------------------------------------------


class ValidationErrorSerializer(serializers.Serializer):
    code = serializers.CharField(
        help_text=(
            "What is wrong, for programs: `required`, `invalid`, `blank`, `null`, `max_length`, "
            "`invalid_choice`, `does_not_exist`, `unique`, … Treat it as an open set: new codes "
            "may be added."
        )
    )
    detail = serializers.CharField(help_text="What is wrong, for people (English).")
    attr = serializers.CharField(
        allow_null=True,
        help_text=(
            "The field at fault: a body field, a query parameter or a header name; nested fields "
            "are dotted, with list positions as numbers (`contacts.0.email`). "
            "`non_field_errors` for the request as a whole."
        ),
    )


class ValidationErrorResponseSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=ValidationErrorEnum.choices)
    errors = ValidationErrorSerializer(many=True, help_text="One entry per problem.")


# A body that is not JSON at all is a ``client_error``/``parse_error``; an invalid one is a
# ``validation_error``. One shared component, so clients see one 400 shape everywhere.
BAD_REQUEST = PolymorphicProxySerializer(
    component_name="ErrorResponse400",
    serializers={
        ValidationErrorEnum.VALIDATION_ERROR.value: ValidationErrorResponseSerializer,
        ClientErrorEnum.CLIENT_ERROR.value: ParseErrorResponseSerializer,
    },
    resource_type_field_name="type",
)


def error_example(name, code, detail, status, error_type="client_error"):
    """An example error body (``attr`` null: the error is about the request as a whole)."""
    return OpenApiExample(
        name,
        value={"type": error_type, "errors": [{"code": code, "detail": detail, "attr": None}]},
        response_only=True,
        status_codes=[str(status)],
    )


class Error503Serializer(serializers.Serializer):
    code = serializers.ChoiceField(choices=[("service_unavailable", "service_unavailable")])
    detail = serializers.CharField()
    attr = serializers.CharField(allow_null=True)


class ErrorResponse503Serializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=ServerErrorEnum.choices)
    errors = Error503Serializer(many=True)


SERVICE_UNAVAILABLE = OpenApiResponse(
    ErrorResponse503Serializer,
    description=(
        "A service the portal needs for this (the background workers' broker) cannot be reached "
        "now; nothing was done. Retry after `Retry-After` seconds."
    ),
    examples=[
        error_example(
            "Workers unavailable",
            "service_unavailable",
            "The background workers cannot be reached; try again later.",
            503,
            error_type="server_error",
        )
    ],
)


# --- which errors an operation documents --------------------------------------------------------


class PortalAutoSchema(AutoSchema):
    """drf-standardized-errors' schema, with only the error responses an operation can give."""

    def _has_request_body(self):
        return self.method in BODY_METHODS and self.get_request_serializer() is not None

    def _should_add_parse_error_response(self):
        # DRF parses a body only where the view reads one.
        return self._has_request_body() and super()._should_add_parse_error_response()

    def _should_add_http415_error_response(self):
        return self._has_request_body() and super()._should_add_http415_error_response()

    def _should_add_http404_error_response(self):
        # HasCapability answers 404 to a caller whose role may not see the area at all.
        required = getattr(self.view, "required_capabilities", None) or {}
        return required.get("read") is not None or super()._should_add_http404_error_response()

    def _should_add_http405_error_response(self):
        # Each documented operation is an allowed method; 405 answers only undocumented ones.
        return False

    def _insert_field_validators(self, field, schema):
        super()._insert_field_validators(field, schema)
        # A blank-allowed field becomes "oneOf: [the field, an empty string]"; when the field's
        # own pattern accepts "" too, "" matches both and oneOf refuses it. Then the pattern says
        # it all.
        options = schema.get("oneOf", [])
        if len(options) == 2 and options[1] == {"type": "string", "maxLength": 0}:
            pattern = options[0].get("pattern")
            if pattern is not None and re.search(pattern, "") and "format" not in options[0]:
                schema.pop("oneOf")
                schema.update(options[0])

    def _get_http400_serializer(self):
        if self._should_add_parse_error_response():
            return BAD_REQUEST
        return ValidationErrorResponseSerializer


# --- the postprocessing hook --------------------------------------------------------------------

ERROR_DESCRIPTIONS = {
    "400": (
        "The request is invalid and nothing was changed. `errors` has one entry per problem: "
        "`attr` names the field, query parameter or header, `code` says what is wrong. A body "
        "that is not JSON is a `client_error` with code `parse_error`."
    ),
    "401": (
        "No credentials, or a token that is unknown, revoked or expired. Send "
        "`Authorization: Bearer <token>`."
    ),
    "403": (
        "The caller may see this but not do it: its role lacks the capability, or the API "
        "client's token lacks the scope (`<resource>:read` or `<resource>:write`)."
    ),
    "404": (
        "No such object, a pagination cursor that is not valid, or a caller whose role may not "
        "see this area at all (the portal does not reveal that it exists)."
    ),
    "406": "The `Accept` header allows no type the API answers with (`application/json`).",
    "409": "It conflicts with the current state; see `detail`.",
    "415": "The body is not JSON: send `Content-Type: application/json`.",
    "422": "The request is well formed but cannot be processed as sent; see `detail`.",
    "429": (
        "Too many requests from this caller (`API_THROTTLE_RATE`, or the API client's own rate "
        "limit). Retry after `Retry-After` seconds."
    ),
    "500": (
        "An unexpected error on the portal's side; it is logged with the response's "
        "`X-Request-ID`. Retrying later may succeed."
    ),
    "503": "A service the portal needs cannot be reached now. Retry after `Retry-After` seconds.",
}
SUCCESS_DESCRIPTIONS = {"200": "OK.", "201": "Created.", "202": "Accepted.", "204": "Done."}
RETRY_AFTER = {
    "schema": {"type": "integer", "minimum": 0},
    "description": "Seconds to wait before trying again.",
}
ETAG = {
    "schema": {"type": "string"},
    "description": (
        "An opaque version of this representation. Send it back in `If-None-Match` to read "
        "again without a body when nothing changed."
    ),
}
IF_NONE_MATCH = {
    "in": "header",
    "name": "If-None-Match",
    "required": False,
    "schema": {"type": "string"},
    "description": (
        "The `ETag` of a representation the client holds (several may be given, comma-separated). "
        "When it is still current the answer is 304 without a body."
    ),
}
NOT_MODIFIED = {
    "description": (
        "Not modified: the representation still has the `ETag` given in `If-None-Match`. No body."
    ),
    "headers": {"ETag": ETAG},
}
# DRF's own texts for these say little; what they mean here.
PARAMETER_DESCRIPTIONS = {
    "cursor": (
        "Where to continue: the `cursor` of the previous answer's `next` (or `previous`) link. "
        "Leave it out for the first page; cursors are opaque and stay valid while rows change."
    ),
    "page_size": "Results per page, 1 to 500 (larger values are served as 500); 50 when left out.",
    "ordering": "The sort order: a field name, with `-` before it for descending order.",
}
PAGE_SIZE_SCHEMA = {"type": "integer", "minimum": 1, "maximum": 500}
PATH_PARAMETER_DESCRIPTIONS = {
    "tenant_id": "The customer's Microsoft Entra tenant id.",
    "microsoft_id": "Microsoft's id of the incident or advisory, such as `EX123456`.",
    "number": "The service request's number, such as `SR-000123`.",
}
# What a paginated example's links look like (DRF's own placeholders point at another API).
EXAMPLE_CURSOR = "cD0lNUIlMjIyMDI1LTExLTI3VDA5JTNBMDUlM0EwMFolMjIlMkM0MiU1RA%3D%3D"


def postprocess(result, generator, request, public, **kwargs):
    """Add what every operation shares to the generated schema (see the module docstring)."""
    schemas = result.get("components", {}).get("schemas", {})
    for path, item in result.get("paths", {}).items():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            _describe_parameters(path, operation)
            if method == "get":
                _conditional_get(operation)
                _example_links(path, operation, schemas)
            for status, response in operation.get("responses", {}).items():
                if not response.get("description"):
                    response["description"] = _response_description(status, operation)
                if status in ("429", "503"):
                    response.setdefault("headers", {}).setdefault("Retry-After", RETRY_AFTER)
            _example_400(operation, schemas)
    return result


def _response_description(status, operation):
    if status == "400" and "requestBody" not in operation:
        return (
            "A query parameter is invalid: `errors` has one entry per problem, `attr` names the "
            "parameter and `code` says what is wrong."
        )
    return ERROR_DESCRIPTIONS.get(status, SUCCESS_DESCRIPTIONS.get(status, ""))


def _describe_parameters(path, operation):
    for parameter in operation.get("parameters", []):
        name, where = parameter.get("name"), parameter.get("in")
        if where == "query" and name in PARAMETER_DESCRIPTIONS:
            parameter["description"] = PARAMETER_DESCRIPTIONS[name]
            if name == "page_size":
                parameter["schema"] = dict(PAGE_SIZE_SCHEMA)
        elif where == "path" and not parameter.get("description"):
            parameter["description"] = PATH_PARAMETER_DESCRIPTIONS.get(name) or _path_id(path, name)


def _path_id(path, name):
    """``/api/v1/routing-rules/{id}/`` → "The routing rule's id."."""
    segments = path.strip("/").split("/")
    position = segments.index(f"{{{name}}}")
    *words, last = segments[position - 1].split("-")
    last = last[:-3] + "y" if last.endswith("ies") else last.removesuffix("s")
    resource = " ".join("PSA" if word == "psa" else word for word in [*words, last])
    return f"The {resource}'s {name}."


def _example_links(path, operation, schemas):
    """Point a page's example links at this list, on the examples' portal."""
    link = f"{EXAMPLE_API.removesuffix('/api/v1')}{path}?cursor={EXAMPLE_CURSOR}"
    for media in operation["responses"].get("200", {}).get("content", {}).values():
        properties = _resolve(media.get("schema"), schemas).get("properties", {})
        if not {"next", "previous", "results"} <= set(properties):
            continue
        properties["next"]["example"] = properties["previous"]["example"] = link
        for example in media.get("examples", {}).values():
            if isinstance(example.get("value"), dict):
                example["value"].update(next=link, previous=None)


def _conditional_get(operation):
    parameters = operation.setdefault("parameters", [])
    if not any(p.get("name", "").lower() == "if-none-match" for p in parameters):
        parameters.append(dict(IF_NONE_MATCH))
    responses = operation["responses"]
    responses.setdefault("304", NOT_MODIFIED)
    if "200" in responses:
        responses["200"].setdefault("headers", {}).setdefault("ETag", ETAG)


def _resolve(schema, schemas):
    while isinstance(schema, dict) and "$ref" in schema:
        schema = schemas[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _example_400(operation, schemas):
    """A realistic 400 body for the operation: a missing or wrong value of one of its inputs."""
    content = operation.get("responses", {}).get("400", {}).get("content", {})
    media = content.get("application/json")
    if media is None or media.get("examples") or media.get("example"):
        return
    error = _body_field_error(operation, schemas) or _parameter_error(operation)
    examples = {}
    if error is not None:
        examples["ValidationError"] = {
            "summary": "An invalid value",
            "value": {"type": "validation_error", "errors": [error]},
        }
    if "requestBody" in operation:
        examples["ParseError"] = {
            "summary": "A body that is not JSON",
            "value": {
                "type": "client_error",
                "errors": [
                    {
                        "code": "parse_error",
                        "detail": "JSON parse error - Expecting value: line 1 column 1 (char 0)",
                        "attr": None,
                    }
                ],
            },
        }
    if examples:
        media["examples"] = examples


def _body_field_error(operation, schemas):
    body = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if body is None:
        return None
    schema = _resolve(body.get("schema"), schemas)
    properties = (schema or {}).get("properties", {})
    required = [name for name in (schema or {}).get("required", []) if name in properties]
    if required:
        return {"code": "required", "detail": "This field is required.", "attr": required[0]}
    for name, field in properties.items():
        if not _resolve(field, schemas).get("readOnly"):
            code, detail = _invalid_value(_resolve(field, schemas))
            return {"code": code, "detail": detail, "attr": name}
    return None


def _parameter_error(operation):
    parameters = [p for p in operation.get("parameters", []) if p.get("in") == "query"]
    preferred = sorted(parameters, key=lambda p: p["name"] != "modified_since")
    for parameter in preferred:
        if parameter["name"] in PARAMETER_DESCRIPTIONS:
            continue  # pagination parameters fall back to defaults rather than fail
        code, detail = _invalid_value(parameter.get("schema", {}), query=True)
        return {"code": code, "detail": detail, "attr": parameter["name"]}
    return None


def _invalid_value(schema, query=False):
    """The code and message DRF or django-filter gives for a wrong value of this type."""
    kind, form = schema.get("type"), schema.get("format")
    if "enum" in schema or (schema.get("allOf") or schema.get("oneOf")):
        if query:
            return (
                "invalid_choice",
                "Select a valid choice. urgent is not one of the available choices.",
            )
        return "invalid_choice", '"urgent" is not a valid choice.'
    if form == "date-time" and query:
        return "invalid", "Enter a valid date/time."
    if form == "date-time":
        return "invalid", (
            "Datetime has wrong format. Use one of these formats instead: "
            "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
        )
    if form == "uuid":
        return "invalid", "Enter a valid UUID." if query else "Must be a valid UUID."
    if form == "email":
        return "invalid", "Enter a valid email address."
    if kind == "integer":
        return "invalid", "Enter a whole number." if query else "A valid integer is required."
    if kind == "boolean":
        return "invalid", "Must be a valid boolean."
    if kind == "array":
        return "not_a_list", 'Expected a list of items but got type "str".'
    if kind == "object":
        return "invalid", "Invalid data. Expected a dictionary, but got str."
    return "blank", "This field may not be blank."
