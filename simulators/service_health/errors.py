"""The error bodies Graph and Microsoft Entra's token endpoint answer with, as exceptions the
routes raise."""

import json
import uuid
from datetime import UTC, datetime


class HttpError(Exception):
    def __init__(self, status, payload, headers=None):
        super().__init__(status)
        self.status = status
        self.payload = payload
        self.headers = headers or {}


def graph_error(status, code, message, request_id=None, client_request_id=None):
    inner = {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        "request-id": request_id or str(uuid.uuid4()),
        "client-request-id": client_request_id or request_id or str(uuid.uuid4()),
    }
    return HttpError(status, {"error": {"code": code, "message": message, "innerError": inner}})


def identity_error(status, error, code, description):
    """Microsoft Entra's token-endpoint error shape."""
    trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    return HttpError(
        status,
        {
            "error": error,
            "error_description": (
                f"AADSTS{code}: {description} Trace ID: {trace} Correlation ID: {correlation} "
                f"Timestamp: {stamp}"
            ),
            "error_codes": [code],
            "timestamp": stamp,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": f"https://login.microsoftonline.com/error?code={code}",
        },
    )


def fault_body(status, request_id, client_request_id):
    """The body of a scripted fault: a Graph error with the code Graph gives that status."""
    codes = {
        400: "BadRequest",
        401: "InvalidAuthenticationToken",
        403: "Forbidden",
        404: "NotFound",
        429: "TooManyRequests",
        503: "ServiceNotAvailable",
        504: "GatewayTimeout",
    }
    error = graph_error(
        status,
        codes.get(status, "UnknownError"),
        f"Simulated {status}.",
        request_id,
        client_request_id,
    )
    return json.dumps(error.payload).encode()
