from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services
from accounts.roles import Capability, Role
from accounts.scopes import ApiResource, all_scopes, scope
from core.openapi import examples


@examples(
    "API client",
    response={
        "id": 57,
        "email": "",
        "full_name": "ConnectWise PSA",
        "kind": "api_client",
        "roles": ["helpdesk_agent"],
        "capabilities": ["view_support", "work_support"],
        "scopes": ["customers:read", "incidents:write", "service_requests:write"],
    },
)
class MeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField(
        allow_blank=True, help_text="The person's email; empty for an API client."
    )
    full_name = serializers.CharField()
    kind = serializers.ChoiceField(choices=["person", "api_client"])
    roles = serializers.ListField(child=serializers.ChoiceField(choices=Role.choices))
    capabilities = serializers.ListField(child=serializers.ChoiceField(choices=Capability.choices))
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=all_scopes()),
        help_text=(
            "`<resource>:read` or `<resource>:write` (write includes read), one per resource. "
            "For API clients, what the token may do within its role; for people, every resource "
            "at write (their roles alone decide)."
        ),
    )


class MeView(APIView):
    """Who is calling: the signed-in person or the API client behind the token."""

    required_capabilities = {"read": None, "write": None}
    # Every client may ask who it is, whatever its scopes.
    api_resource = None

    @extend_schema(
        responses=MeSerializer,
        operation_id="me_retrieve",
        tags=["accounts"],
        summary="Who is calling",
        description=(
            "The signed-in person or the API client behind the token, with its roles, the "
            "capabilities they give and the token's scopes: a client can check what it may do."
        ),
    )
    def get(self, request):
        user = request.user
        if user.is_api_client:
            name, kind, scopes = user.api_client.name, "api_client", user.api_client.scopes
        else:
            name, kind = user.full_name, "person"
            scopes = sorted(scope(resource, "write") for resource in ApiResource)
        data = {
            "id": user.pk,
            "email": "" if user.is_api_client else user.email,
            "full_name": name,
            "kind": kind,
            "roles": [role.value for role in user.roles],
            "capabilities": sorted(capability.value for capability in user.capabilities),
            "scopes": scopes,
        }
        return Response(MeSerializer(data).data)


@examples(
    "A new token",
    response={
        "token": "3f9c1e0b7a6d4c2e8b5a9f1d0c7e6b4a2d8f3c1e9b7a5d3f1c0e8b6a4d2f9c7e",
        "previous_tokens_expire": "2025-11-28T09:10:00Z",
    },
)
class RotatedTokenSerializer(serializers.Serializer):
    token = serializers.CharField(
        help_text="The new token. Shown only in this response: the portal keeps a digest."
    )
    previous_tokens_expire = serializers.DateTimeField(
        help_text="Until then the client's previous tokens keep working; after it, only this one."
    )


class RotateTokenView(APIView):
    """An API client replaces its own token without downtime."""

    required_capabilities = {"read": None, "write": None}
    # Any client may renew its own credential: the new token has exactly the old one's rights.
    api_resource = None

    @extend_schema(
        operation_id="me_rotate_token",
        tags=["accounts"],
        summary="Rotate the caller's token",
        description=(
            "For API clients: issues a new token and sets the client's other tokens to expire "
            "after the grace period (`API_TOKEN_ROTATION_GRACE_HOURS`, 24 by default), so both "
            "work while the new one is deployed. People (session sign-in) get 404."
        ),
        request=None,
        responses={201: RotatedTokenSerializer},
    )
    def post(self, request):
        if not request.user.is_api_client:
            raise exceptions.NotFound
        try:
            token, grace_ends = services.rotate_api_client_token(request, request.user.api_client)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(serializers.as_serializer_error(exc)) from exc
        data = {"token": token, "previous_tokens_expire": grace_ends}
        return Response(RotatedTokenSerializer(data).data, status=status.HTTP_201_CREATED)
