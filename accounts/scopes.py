"""API client scopes: the one registry of API resources, and what a client may do with each.

A scope is ``"<resource>:read"`` or ``"<resource>:write"``; write implies read. An API client
stores at most one scope per resource (its level there). Every API view names its resource with
``api_resource = ApiResource.X`` (or ``None`` for what any client may call, such as ``/me/``);
``accounts.permissions.HasCapability`` refuses a token without the scope. The role still caps
what a client may do: a scope never grants a capability its role lacks.
"""

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _


class ApiResource(models.TextChoices):
    CUSTOMERS = "customers", _("Customers")
    # Services, per-customer health and feed sources.
    SERVICE_HEALTH = "service_health", _("Service health")
    INCIDENTS = "incidents", _("Incidents")
    SERVICE_REQUESTS = "service_requests", _("Service requests")
    # Support topics, channels and routing rules.
    SUPPORT_CONFIG = "support_config", _("Support configuration")
    WEBHOOKS = "webhooks", _("Webhooks")
    # PSA connections and company mappings.
    PSA = "psa", _("PSA connections")


class Access(models.TextChoices):
    NONE = "", _("None")
    READ = "read", _("Read")
    WRITE = "write", _("Write")


# Shorthands accepted on input (the command line, old clients): that level on every resource.
LEVEL_SHORTHANDS = ("read", "write")
_RANK = {Access.NONE: 0, Access.READ: 1, Access.WRITE: 2}


def scope(resource, access):
    return f"{ApiResource(resource).value}:{Access(access).value}"


def all_scopes():
    """Every scope string, for choices and the schema."""
    return [scope(resource, access) for resource in ApiResource for access in LEVEL_SHORTHANDS]


def levels(scopes):
    """``{resource: Access}`` for every resource, from scope strings (shorthands expanded).

    Raises ``ValidationError`` naming anything it does not understand.
    """
    result = dict.fromkeys(ApiResource, Access.NONE)
    unknown = []
    for raw in scopes:
        text = str(raw).strip()
        if text in LEVEL_SHORTHANDS:
            pairs = [(resource, Access(text)) for resource in ApiResource]
        else:
            resource, _sep, access = text.partition(":")
            if resource not in ApiResource.values or access not in LEVEL_SHORTHANDS:
                unknown.append(text)
                continue
            pairs = [(ApiResource(resource), Access(access))]
        for resource, access in pairs:
            if _RANK[access] > _RANK[result[resource]]:
                result[resource] = access
    if unknown:
        raise ValidationError(
            _("Unknown scopes: %(scopes)s. Use <resource>:read or <resource>:write."),
            params={"scopes": ", ".join(unknown)},
            code="invalid_scope",
        )
    return result


def normalize(scopes):
    """The canonical, stored form: one ``resource:level`` per resource that has one, sorted."""
    return sorted(scope(resource, access) for resource, access in levels(scopes).items() if access)


def from_levels(by_resource):
    """Scope strings from ``{resource: "read" | "write" | ""}`` (the UI's grid)."""
    return normalize(scope(resource, access) for resource, access in by_resource.items() if access)


def allows(scopes, resource, access):
    """Whether the stored ``scopes`` permit ``access`` ("read" or "write") on ``resource``."""
    held = levels(scopes)[ApiResource(resource)]
    return _RANK[held] >= _RANK[Access(access)]
