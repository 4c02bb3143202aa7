"""What the apps' APIs share."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from drf_spectacular.utils import extend_schema
from drf_standardized_errors.handler import ExceptionHandler as StandardizedExceptionHandler
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action

from core.middleware import is_unavailable

CONFLICT = "This conflicts with a change made at the same time."


def through_service(function, *args, adjust_errors=None, **kwargs):
    """Call a service function; its validation errors become a 400, never a 500.

    ``adjust_errors`` may rewrite the field errors first (nest a key under the field that holds
    it, mask a secret a message quotes). A unique constraint that two writers raced past is a
    400 too: the database kept only one of them.
    """
    try:
        return function(*args, **kwargs)
    except DjangoValidationError as exc:
        errors = serializers.as_serializer_error(exc)
        if adjust_errors is not None:
            errors = adjust_errors(errors)
        raise serializers.ValidationError(errors) from None
    except IntegrityError:
        raise serializers.ValidationError({"non_field_errors": [CONFLICT]}) from None


def sync_list_description(ordered):
    """A synced list endpoint's OpenAPI description; ``ordered`` says what it lists, in what order."""
    return (
        f"{ordered}, oldest first, with cursor pagination. For incremental sync, pass "
        "`modified_since` and follow `next`: each change is returned once."
    )


def nested_list_action(*, summary, description, serializer_class):
    """A read-only detail action that lists an object's children: a plain list, neither paginated
    nor filtered (the view's filters and cursor are for its own list)."""

    def decorate(method):
        method = action(
            detail=True,
            methods=["get"],
            serializer_class=serializer_class,
            pagination_class=None,
            filter_backends=[],
        )(method)
        return extend_schema(
            summary=summary, description=description, responses=serializer_class(many=True)
        )(method)

    return decorate


class ExceptionHandler(StandardizedExceptionHandler):
    """drf-standardized-errors' handler, except that an unreachable database or Redis goes on to
    Django, where ServiceUnavailableMiddleware answers 503 with ``Retry-After``: the handler would
    make it a 500, and the caller did nothing wrong."""

    def should_not_handle(self, exc):
        return is_unavailable(exc) or super().should_not_handle(exc)


class NoDeleteViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """List, read, create and update; never delete: the portal keeps its history (disable instead)."""
