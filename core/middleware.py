import contextvars
import re
import uuid

_request_id = contextvars.ContextVar("request_id", default="")
# Accept a caller's request id only when it looks like one; otherwise make our own.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def current_request_id():
    return _request_id.get()


class RequestIdMiddleware:
    """Gives every request an id, echoed in ``X-Request-ID`` and written to logs and the audit log."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        token = _request_id.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            _request_id.reset(token)
        response["X-Request-ID"] = request_id
        return response


class NoStoreForAuthenticatedMiddleware:
    """Pages and API answers for a signed-in caller must not be kept by browsers or proxies."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        is_private = (user is not None and user.is_authenticated) or request.path.startswith(
            "/api/"
        )
        if is_private and not response.has_header("Cache-Control"):
            response["Cache-Control"] = "no-store"
        return response
