"""Signing in with the Entra ID simulator, for the sign-in tests."""

from urllib.parse import urlsplit

import requests
from django.core.management import call_command
from django.urls import reverse

from sso import services

LOGIN_URL = reverse("openid_connect_login", kwargs={"provider_id": "entra"})


def configure(entra, **values):
    """Sign-in with Microsoft on, against the simulator (roles must exist: sync them)."""
    call_command("sync_roles", verbosity=0)
    return services.update_settings(
        actor=None,
        values={
            "enabled": True,
            "tenant_id": entra.tenant_id,
            "client_id": entra.client_id,
            "login_url": entra.base_url,
            **values,
        },
        client_secret=entra.client_secret,
    )


def callback_url(client, start_url=LOGIN_URL):
    """Start a sign-in and let the simulator sign the person in: the callback's path and
    query, as Entra ID redirects the browser to it."""
    start = client.get(start_url)
    assert start.status_code == 302, start.content[:500]
    answer = requests.get(start["Location"], allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    location = urlsplit(answer.headers["Location"])
    return f"{location.path}?{location.query}"


def sign_in(client, entra, user=None):
    """The whole Entra sign-in; returns the portal's answer to the callback."""
    if user is not None:
        entra.sign_in_as(user)
    return client.get(callback_url(client))


def signed_in_user_id(client):
    return client.session.get("_auth_user_id")
