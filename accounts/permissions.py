"""Where permission checks live: one decorator for views, one DRF permission for the API.

The 404 / 403 split is deliberate: a user without the capability to see an area gets 404 (they
cannot tell it exists); a user who may see it but not change it gets 403 on writes.
"""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404
from knox.models import AuthToken
from rest_framework import exceptions, permissions
from rest_framework.permissions import SAFE_METHODS

from accounts.scopes import scope
from core.throttling import refuse_unauthenticated

# Distinguishes "no api_resource attribute" (closed to API clients) from ``api_resource = None``.
NOT_DECLARED = object()


def check_capability(user, read, write=None, method="GET"):
    """Raise Http404 / PermissionDenied unless ``user`` may do ``method`` here."""
    if read is not None and not user.has_capability(read):
        raise Http404
    if method not in SAFE_METHODS and write is not None and not user.has_capability(write):
        raise PermissionDenied


def capability_required(read, write=None, form_page=False):
    """View decorator: sign-in required; ``read`` for every method, ``write`` for unsafe ones.

    ``read=None`` lets any signed-in user in (their own profile, for example). ``form_page=True``
    asks for ``write`` on GET as well: the form to change something is itself a write page.
    """

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            method = "POST" if form_page else request.method
            check_capability(request.user, read, write, method)
            return view(request, *args, **kwargs)

        wrapped.required_capabilities = {"read": read, "write": write}
        return wrapped

    return decorator


class HasCapability(permissions.BasePermission):
    """The API's default permission: deny unless the view declares what it needs.

    A view sets ``required_capabilities = {"read": Capability..., "write": Capability...}``;
    ``None`` means any authenticated caller. API clients also need the scope for the view's
    ``api_resource`` (``<resource>:read`` for safe methods, ``<resource>:write`` for the others).
    A view without ``api_resource`` is closed to API clients; ``api_resource = None`` opens it to
    every client (``/me/``). The role is checked first: a scope never adds to what it allows.
    """

    message = "You do not have permission to perform this action."

    def has_permission(self, request, view):
        required = getattr(view, "required_capabilities", None)
        user = request.user
        if not user or not user.is_authenticated:
            refuse_unauthenticated(request, view)
            return False
        if required is None:
            return False
        is_write = request.method not in SAFE_METHODS
        read = required.get("read")
        if read is not None and not user.has_capability(read):
            raise exceptions.NotFound
        if isinstance(request.auth, AuthToken):
            resource = getattr(view, "api_resource", NOT_DECLARED)
            if resource is NOT_DECLARED:
                self.message = "API clients cannot use this endpoint."
                return False
            access = "write" if is_write else "read"
            if resource is not None and not user.api_client.allows(resource, access):
                self.message = (
                    f"This API client's token lacks the '{scope(resource, access)}' scope"
                    + (" (write includes read)." if access == "read" else ".")
                )
                return False
        write = required.get("write")
        return not (is_write and write is not None and not user.has_capability(write))
