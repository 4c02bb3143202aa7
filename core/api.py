"""What the apps' APIs share."""

from rest_framework import mixins, viewsets


class NoDeleteViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """List, read, create and update; never delete: the portal keeps its history (disable instead)."""
