"""Where to send someone back to: a ``next`` the request carries, only when it stays on this site."""

from django.utils.http import url_has_allowed_host_and_scheme


def safe_next_url(request, candidate, default):
    """``candidate`` when it is a URL of this site (no other host, no ``javascript:``), else
    ``default``. Every ``next`` a view redirects to goes through here."""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return default
