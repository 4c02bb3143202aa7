import contextvars
import ipaddress
import logging
import re
import uuid

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.template import loader
from django.utils.cache import get_conditional_response, patch_vary_headers, set_response_etag
from django.utils.http import parse_http_date_safe
from redis.exceptions import RedisError  # redis is installed even without REDIS_URL

logger = logging.getLogger(__name__)

_request_id = contextvars.ContextVar("request_id", default="")
# Accept a caller's request id only when it looks like one; otherwise make our own.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def current_request_id():
    return _request_id.get()


def _valid_ip(value):
    """``value`` as a normalised IP address, or None when it is not one."""
    try:
        return str(ipaddress.ip_address((value or "").strip()))
    except ValueError:
        return None


def client_address(request):
    """The client's IP address, the one place that decides it; None when there is no valid one.

    With ``TRUSTED_PROXY_COUNT`` = n > 0, each of our n proxies appends the address it received
    the request from to ``X-Forwarded-For``, so the n-th entry from the right is the client as our
    outermost proxy saw it; entries further left are whatever the client wrote. Without trusted
    proxies, or when the header is missing, too short or not an address there, the socket's
    address (``REMOTE_ADDR``).
    """
    count = settings.TRUSTED_PROXY_COUNT
    if count > 0:
        entries = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        if len(entries) >= count:
            forwarded = _valid_ip(entries[-count])
            if forwarded:
                return forwarded
    return _valid_ip(request.META.get("REMOTE_ADDR"))


class ClientAddressMiddleware:
    """Puts ``client_address`` in ``REMOTE_ADDR`` before anything reads it.

    DRF's throttles, allauth's rate limits and session list, and the audit log then all see the
    same address, worked out once with one rule, and none of them reads ``X-Forwarded-For``.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if settings.TRUSTED_PROXY_COUNT > 0:
            address = client_address(request)
            if address:
                request.META["REMOTE_ADDR"] = address
        return self.get_response(request)


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


class RefuseNulMiddleware:
    """A NUL in a header, the path or the query string is refused with 400 before any view runs.

    HTTP forbids it in header values and PostgreSQL cannot compare text holding one: an API token
    or a path segment with a NUL would otherwise reach a query and fail there, a 500.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        headers = (value for key, value in request.META.items() if key.startswith("HTTP_"))
        query = (item for pair in request.GET.lists() for item in (pair[0], *pair[1]))
        if "\x00" in request.path or any("\x00" in str(value) for value in (*headers, *query)):
            # In English, like the API's other protocol errors: no browser sends one.
            return _bad_request(request, "The request contains a NUL character.")
        return self.get_response(request)


def _bad_request(request, detail):
    if request.path.startswith("/api/"):
        # The API's one error shape (core.views cannot be imported here: it imports this).
        return JsonResponse(
            {
                "type": "client_error",
                "errors": [{"code": "parse_error", "detail": detail, "attr": None}],
            },
            status=400,
        )
    return HttpResponse(detail, status=400, content_type="text/plain; charset=utf-8")


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


class ApiConditionalGetMiddleware:
    """``ETag`` on every API answer to GET and HEAD, and ``If-None-Match`` answered with 304.

    Django's own conditional-GET code does the work (strong and weak comparison, lists of tags,
    ``*``, a 304 with the validators and no body). The tag is a digest of the body, so the view
    still runs, with its permission checks, and only the transfer is saved. Unlike Django's
    ``ConditionalGetMiddleware`` it also answers HEAD (DRF renders the same body for it, which
    the server then drops) and tags answers that are ``no-store`` for caches: a PSA keeps its
    last result itself and revalidates it. ``Vary: Authorization, Cookie`` keeps any cache from
    giving one caller's answer to another.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not request.path.startswith("/api/"):
            return response
        patch_vary_headers(response, ("Authorization", "Cookie"))
        if request.method not in ("GET", "HEAD"):
            return response
        if not response.has_header("ETag"):
            set_response_etag(response)
        etag = response.get("ETag")
        last_modified = parse_http_date_safe(response.get("Last-Modified", ""))
        if etag or last_modified:
            return get_conditional_response(
                request, etag=etag, last_modified=last_modified, response=response
            )
        return response


RETRY_AFTER_SECONDS = 30


def is_unavailable(exception):
    """Whether ``exception`` means a service the portal stands on (PostgreSQL, Redis) cannot be
    reached: the caller should try again shortly, it did nothing wrong."""
    return isinstance(exception, (OperationalError, InterfaceError, RedisError))


def service_unavailable_response(request, exception):
    """The one 503 for an unreachable database or Redis, whichever layer noticed it.

    The API gets its error shape, pages a short explanation, both a ``Retry-After``. The body and
    the log line name no more than the exception's type: a driver's message can carry host names
    and SQL.
    """
    cause = "cache" if isinstance(exception, RedisError) else "database"
    logger.warning(
        "%s unavailable for %s %s: %s",
        cause,
        request.method,
        request.path,
        type(exception).__name__,
    )
    if request.path.startswith("/api/"):
        response = JsonResponse(
            {
                "type": "server_error",
                "errors": [
                    {
                        "code": "service_unavailable",
                        "detail": "Temporarily unavailable; try again shortly.",
                        "attr": None,
                    }
                ],
            },
            status=503,
        )
    else:
        # No context processors: they may need what is down.
        body = loader.get_template("503.html").render({"cause": cause})
        response = HttpResponse(body, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    # Logged above, once: Django would add an error with the traceback, driver message included.
    response._has_been_logged = True
    return response


class ServiceUnavailableMiddleware:
    """A clean 503 when PostgreSQL or Redis (the cache that sign-in rate limits live in) is
    unreachable and a view raised it; ``core.views.server_error`` answers the same for errors
    raised in a middleware, which Django turns into a response before any middleware sees them.

    Sign-in fails closed while its rate limits cannot be checked; everything that does not need
    the cache keeps working. Never a 500.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not is_unavailable(exception):
            return None
        return service_unavailable_response(request, exception)
