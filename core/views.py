import sys

from django.http import HttpResponseServerError, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import requires_csrf_token

from core import health
from core.middleware import is_unavailable, service_unavailable_response


@never_cache
def healthz(request):
    """Database, cache and broker reachability as JSON: 200 when all answer, else 503."""
    healthy, report = health.overall()
    return JsonResponse(report, status=200 if healthy else 503)


def _api_error(status, code, detail, error_type="client_error"):
    """An error under /api/ that no API view answered (no URL matched, a middleware failed):
    the API's one error shape all the same, as the schema documents."""
    return JsonResponse(
        {"type": error_type, "errors": [{"code": code, "detail": detail, "attr": None}]},
        status=status,
    )


def permission_denied(request, exception=None):
    if request.path.startswith("/api/"):
        return _api_error(
            403, "permission_denied", "You do not have permission to perform this action."
        )
    return render(request, "403.html", status=403)


def page_not_found(request, exception=None):
    if request.path.startswith("/api/"):
        return _api_error(404, "not_found", "Not found.")
    return render(request, "404.html", status=404)


@requires_csrf_token
def server_error(request):
    # Django calls this inside its ``except`` block: the exception is still at hand. An unreachable
    # database or Redis, raised in a middleware (sessions, authentication), is the same 503 a
    # view's would be (ServiceUnavailableMiddleware): never a 500.
    exception = sys.exc_info()[1]
    if exception is not None and is_unavailable(exception):
        return service_unavailable_response(request, exception)
    if request.path.startswith("/api/"):
        return _api_error(500, "error", "A server error occurred.", error_type="server_error")
    # No context processors: whatever broke may be what they need.
    template = loader.get_template("500.html")
    return HttpResponseServerError(template.render({}))
