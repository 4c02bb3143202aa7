from django import template

from accounts.middleware import session_limits_text

register = template.Library()


@register.simple_tag
def session_limits():
    """The idle and absolute timeouts in words, from the settings in force."""
    return session_limits_text()
