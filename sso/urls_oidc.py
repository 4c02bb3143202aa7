"""allauth's OpenID Connect paths, served by ``sso.oidc`` (included before allauth's URLs)."""

from django.urls import path

from sso import oidc

urlpatterns = [
    path("login/", oidc.login, name="openid_connect_login"),
    path("login/callback/", oidc.callback, name="openid_connect_callback"),
]
