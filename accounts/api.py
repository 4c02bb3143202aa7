from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.roles import Capability, Role


class MeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    full_name = serializers.CharField()
    kind = serializers.ChoiceField(choices=["person", "api_client"])
    roles = serializers.ListField(child=serializers.ChoiceField(choices=Role.choices))
    capabilities = serializers.ListField(child=serializers.ChoiceField(choices=Capability.choices))
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=["read", "write"]),
        help_text="For API clients, the token's scopes; for people, both.",
    )


class MeView(APIView):
    """Who is calling: the signed-in person or the API client behind the token."""

    required_capabilities = {"read": None, "write": None}

    @extend_schema(responses=MeSerializer, operation_id="me_retrieve", tags=["accounts"])
    def get(self, request):
        user = request.user
        if user.is_api_client:
            name, kind, scopes = user.api_client.name, "api_client", user.api_client.scopes
        else:
            name, kind, scopes = user.full_name, "person", ["read", "write"]
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
