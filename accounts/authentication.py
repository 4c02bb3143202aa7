from datetime import timedelta

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from knox.auth import TokenAuthentication
from rest_framework import exceptions

from accounts.models import ApiClient
from core.throttling import refuse_unauthenticated

# Recording every call would turn each read into a write; once a minute is precise enough.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class ApiClientTokenAuthentication(TokenAuthentication):
    """``Authorization: Bearer <token>`` for API clients; tokens are stored only as digests."""

    def authenticate(self, request):
        try:
            return super().authenticate(request)
        except exceptions.AuthenticationFailed:
            # A wrong token counts against its address: guessing tokens gets 429, not endless 401s.
            refuse_unauthenticated(request)
            raise

    def _cleanup_token(self, auth_token):
        """Whether this token has expired (it is deleted then). knox also loads every other
        token of the user on each call to delete expired ones: a query per request for rows
        that are refused anyway. Rotation deletes those instead."""
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            auth_token.delete()
            return True
        return False

    def validate_user(self, auth_token):
        user, auth_token = super().validate_user(auth_token)
        client = getattr(user, "api_client", None) if user.is_api_client else None
        if client is None or client.is_revoked:
            raise exceptions.AuthenticationFailed("Invalid token.")
        now = timezone.now()
        if client.last_used_at is None or now - client.last_used_at > LAST_USED_RESOLUTION:
            ApiClient.objects.filter(pk=client.pk).update(last_used_at=now)
        return user, auth_token


class ApiClientTokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiClientTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API client's token, created by a Global admin.",
        }
