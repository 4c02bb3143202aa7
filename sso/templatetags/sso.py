from django import template
from django.urls import reverse

from sso.models import SsoSettings
from sso.oidc import PROVIDER_ID

register = template.Library()


@register.simple_tag
def sso_sign_in():
    """For the sign-in page: ``{"url": …}`` of "Sign in with Microsoft" (None while it is off)
    and whether the password form is offered."""
    settings = SsoSettings.get()
    url = None
    if settings.enabled and settings.configured:
        url = reverse("openid_connect_login", kwargs={"provider_id": PROVIDER_ID})
    return {"url": url, "local_sign_in": settings.passwords_allowed}
