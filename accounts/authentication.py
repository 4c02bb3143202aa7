import binascii
import time
from datetime import timedelta
from hmac import compare_digest

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from knox.auth import TokenAuthentication
from knox.crypto import hash_token
from knox.models import AuthToken
from knox.settings import CONSTANTS
from rest_framework import exceptions

from accounts import token_cache
from accounts.models import ApiClient
from core.throttling import refuse_unauthenticated

# Recording every call would turn each read into a write; once a minute is precise enough.
LAST_USED_RESOLUTION = timedelta(minutes=1)
# knox's message for an unknown token; a revoked client's token gets the same.
REFUSAL = "Invalid token."


class ApiClientTokenAuthentication(TokenAuthentication):
    """``Authorization: Bearer <token>`` for API clients; tokens are stored only as digests.

    What a token may do is cached for a short time per digest (accounts.token_cache): a request
    with a known token asks no query. knox's ``AUTO_REFRESH`` stays off: it would move expiries
    the cached grants hold.
    """

    def authenticate(self, request):
        try:
            return super().authenticate(request)
        except exceptions.AuthenticationFailed:
            # A wrong token counts against its address: guessing tokens gets 429, not endless 401s.
            refuse_unauthenticated(request)
            raise

    def authenticate_credentials(self, token):
        token = token.decode("utf-8")
        try:
            digest = hash_token(token)
        except (TypeError, binascii.Error):
            raise exceptions.AuthenticationFailed(REFUSAL) from None
        cached = token_cache.load(digest)
        # An expired token goes to the database, which deletes it and refuses it.
        if cached is not None and not _expired(cached[1]):
            return self.validate_user(cached[1], from_cache=True)
        read_at = time.monotonic()
        user, auth_token = self._from_database(token, digest)
        token_cache.store(digest, user, auth_token, read_at)
        return user, auth_token

    def _from_database(self, token, digest):
        # knox's lookup, with the API client in the same query.
        tokens = AuthToken.objects.filter(token_key=token[: CONSTANTS.TOKEN_KEY_LENGTH])
        for auth_token in tokens.select_related("user__api_client"):
            if self._cleanup_token(auth_token):
                continue
            if compare_digest(digest, auth_token.digest):
                user, auth_token = self.validate_user(auth_token)
                user.get_all_permissions()  # read once here, kept for the request and the grant
                return user, auth_token
        raise exceptions.AuthenticationFailed(REFUSAL)

    def _cleanup_token(self, auth_token):
        """Whether this token has expired (it is deleted then). knox also loads every other
        token of the user on each call to delete expired ones: a query per request for rows
        that are refused anyway. Rotation deletes those instead."""
        if _expired(auth_token):
            auth_token.delete()
            return True
        return False

    def validate_user(self, auth_token, from_cache=False):
        user, auth_token = super().validate_user(auth_token)  # an inactive user is refused
        client = getattr(user, "api_client", None) if user.is_api_client else None
        if client is None or client.is_revoked:
            raise exceptions.AuthenticationFailed(REFUSAL)
        now = timezone.now()
        # A cached grant is at most API_TOKEN_CACHE_SECONDS old: the database is read, and the
        # use recorded, about once a minute per token.
        if not from_cache and (
            client.last_used_at is None or now - client.last_used_at > LAST_USED_RESOLUTION
        ):
            ApiClient.objects.filter(pk=client.pk).update(last_used_at=now)
        return user, auth_token


def _expired(auth_token):
    return auth_token.expiry is not None and auth_token.expiry < timezone.now()


class ApiClientTokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiClientTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API client's token, created by a Global admin.",
        }
