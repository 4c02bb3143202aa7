"""The role matrix: Partner Center's four staff roles and what each may do.

This is the one place the matrix is declared. Each role is a Django group named by its slug;
each capability is a permission ``accounts.<capability>``. A migration creates them and
``manage.py sync_roles`` re-syncs them after the matrix changes.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

PERMISSION_APP_LABEL = "accounts"
PERMISSION_MODEL = "user"


class Capability(models.TextChoices):
    VIEW_SUPPORT = (
        "view_support",
        _("View customers, health, incidents and service requests"),
    )
    WORK_SUPPORT = (
        "work_support",
        _("Acknowledge incidents; open, update and comment on service requests"),
    )
    MANAGE_CUSTOMERS = (
        "manage_customers",
        _("Create and edit customers, subscriptions and delegated-admin relationships"),
    )
    MANAGE_STAFF = "manage_staff", _("Manage staff users and role assignments")
    MANAGE_INTEGRATIONS = (
        "manage_integrations",
        _("Manage support channels, routing rules, feed sources, API clients and webhooks"),
    )
    VIEW_AUDIT_LOG = "view_audit_log", _("Browse and export the audit log")


class Role(models.TextChoices):
    GLOBAL_ADMIN = "global_admin", _("Global admin")
    USER_MANAGEMENT_ADMIN = "user_management_admin", _("User management admin")
    ADMIN_AGENT = "admin_agent", _("Admin agent")
    HELPDESK_AGENT = "helpdesk_agent", _("Helpdesk agent")


ROLE_CAPABILITIES = {
    Role.GLOBAL_ADMIN: frozenset(Capability),
    Role.USER_MANAGEMENT_ADMIN: frozenset({Capability.MANAGE_STAFF}),
    Role.ADMIN_AGENT: frozenset(
        {Capability.VIEW_SUPPORT, Capability.WORK_SUPPORT, Capability.MANAGE_CUSTOMERS}
    ),
    Role.HELPDESK_AGENT: frozenset({Capability.VIEW_SUPPORT, Capability.WORK_SUPPORT}),
}


class CapabilityQuerySet(models.QuerySet):
    """The access rule of rows a user sees all of with the subclass's ``capability`` and none of
    without it; views and viewsets start from ``visible_to``."""

    capability: Capability

    def visible_to(self, user):
        if user.is_authenticated and user.has_capability(self.capability):
            return self
        return self.none()


def capability_permission(capability):
    """The ``app_label.codename`` string that ``User.has_perm`` takes."""
    return f"{PERMISSION_APP_LABEL}.{capability}"


def sync_roles(group_model, permission_model, content_type_model):
    """Make the groups and permissions in the database match ``ROLE_CAPABILITIES`` exactly.

    Takes the models as arguments so a data migration can pass its historical models.
    Returns the number of groups whose permissions changed.
    """
    content_type, _created = content_type_model.objects.get_or_create(
        app_label=PERMISSION_APP_LABEL, model=PERMISSION_MODEL
    )
    permissions = {}
    for capability in Capability:
        permission, _created = permission_model.objects.update_or_create(
            content_type=content_type,
            codename=capability.value,
            defaults={"name": str(capability.label)[:255]},
        )
        permissions[capability.value] = permission

    changed = 0
    for role, capabilities in ROLE_CAPABILITIES.items():
        group, _created = group_model.objects.get_or_create(name=role.value)
        wanted = {permissions[capability.value].pk for capability in capabilities}
        current = set(group.permissions.values_list("pk", flat=True))
        if wanted != current:
            group.permissions.set(wanted)
            changed += 1
    return changed
