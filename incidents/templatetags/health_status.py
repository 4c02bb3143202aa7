"""Badges for Graph's service health statuses: how bad a severity is and how a status reads."""

from django import template

from incidents.status import severity_level as level_for
from incidents.status import status_label as label_for

register = template.Library()


@register.filter
def severity_level(severity):
    """``{{ incident.severity|severity_level }}``: the badge class ok, warning or danger."""
    return level_for(severity)


@register.filter
def status_label(status):
    """Graph's status value as people read it; an unknown value is shown as sent."""
    return label_for(status) if status else ""
