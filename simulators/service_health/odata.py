"""The OData query options the issue collections support: ``$filter`` clauses, the fields
``$select`` may name, and the ``$skiptoken`` keyset cursor."""

import base64
import re
from datetime import UTC, datetime

from simulators.service_health.errors import graph_error


def _parse_literal_datetime(text):
    """An OData DateTimeOffset literal (unquoted ISO 8601 with Z or an offset)."""
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d{1,7})?)?(Z|[+-]\d\d:\d\d)", text):
        return None
    head, _dot, rest = text.partition(".")
    if rest:
        digits = re.match(r"\d+", rest).group()
        text = f"{head}.{digits[:6].ljust(6, '0')}{rest[len(digits) :]}"
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


# --- $filter -----------------------------------------------------------------------------------

_CLAUSE = re.compile(r"^\s*(\w+)\s+(eq|ne|ge|gt|le|lt)\s+(.+?)\s*$")
DATE_FIELDS = {"lastModifiedDateTime", "startDateTime", "endDateTime"}
_BOOL_FIELDS = {"isResolved", "highImpact"}
_STRING_FIELDS = {
    "id",
    "title",
    "service",
    "status",
    "classification",
    "origin",
    "feature",
    "featureGroup",
}
COMPARE = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "ge": lambda a, b: a is not None and a >= b,
    "gt": lambda a, b: a is not None and a > b,
    "le": lambda a, b: a is not None and a <= b,
    "lt": lambda a, b: a is not None and a < b,
}


def parse_filter(text):
    """``$filter`` as a list of (field, operator, value); raises HttpError 400 if unsupported."""

    def refuse(why):
        return graph_error(400, "BadRequest", f"Invalid filter clause: {why}")

    clauses = []
    for part in re.split(r"\s+and\s+", text.strip()):
        match = _CLAUSE.match(part)
        if not match:
            raise refuse(f"the query specified in the URI is not valid ('{part}').")
        name, operator, literal = match.groups()
        if name in DATE_FIELDS:
            if literal == "null" and operator in ("eq", "ne"):
                value = None
            else:
                value = _parse_literal_datetime(literal)
                if value is None:
                    raise refuse(f"'{literal}' is not a valid DateTimeOffset literal.")
        elif name in _BOOL_FIELDS:
            if literal not in ("true", "false") or operator not in ("eq", "ne"):
                raise refuse(f"'{name} {operator} {literal}' is not supported.")
            value = literal == "true"
        elif name in _STRING_FIELDS:
            if not (len(literal) >= 2 and literal[0] == literal[-1] == "'"):
                raise refuse(f"'{literal}' is not a string literal.")
            if operator not in ("eq", "ne"):
                raise refuse(f"operator '{operator}' is not supported on '{name}'.")
            value = literal[1:-1].replace("''", "'")
        else:
            raise refuse(
                f"Could not find a property named '{name}' on type "
                "'microsoft.graph.serviceHealthIssue'."
            )
        clauses.append((name, operator, value))
    return clauses


ISSUE_FIELDS = (
    "startDateTime",
    "endDateTime",
    "lastModifiedDateTime",
    "title",
    "id",
    "impactDescription",
    "classification",
    "origin",
    "status",
    "service",
    "feature",
    "featureGroup",
    "isResolved",
    "highImpact",
    "details",
    "posts",
)


def encode_skiptoken(last_id):
    return base64.urlsafe_b64encode(f"after:{last_id}".encode()).decode().rstrip("=")


def decode_skiptoken(token):
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        text = ""
    if not text.startswith("after:"):
        raise graph_error(400, "BadRequest", "The $skiptoken is not valid.")
    return text[len("after:") :]
