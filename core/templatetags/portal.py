from django import template

register = template.Library()


@register.filter
def join_if_list(value):
    """Show a list of values (roles, scopes) as "a, b" instead of Python's repr."""
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value) or "—"
    return value
