"""Delegated admin (GDAP) vocabulary: relationship and assignment states as Microsoft Graph
defines them, the Entra roles partners grant, and the expiry thresholds the portal flags."""

from datetime import timedelta

from django.db import models
from django.utils.translation import gettext_lazy as _

# Relationships ending within these many days are flagged, most urgent first.
EXPIRY_THRESHOLDS_DAYS = (1, 7, 30)
EXPIRING_WINDOW = timedelta(days=max(EXPIRY_THRESHOLDS_DAYS))

GLOBAL_ADMINISTRATOR_ROLE_ID = "62e90394-69f5-4237-9190-012177145e10"


class RelationshipStatusChoices(models.TextChoices):
    """``delegatedAdminRelationshipStatus``; Graph may add members, which we keep as sent."""

    CREATED = "created", _("Created")
    APPROVAL_PENDING = "approvalPending", _("Approval pending")
    APPROVED = "approved", _("Approved")
    ACTIVATING = "activating", _("Activating")
    ACTIVE = "active", _("Active")
    EXPIRING = "expiring", _("Expiring")
    EXPIRED = "expired", _("Expired")
    TERMINATION_REQUESTED = "terminationRequested", _("Termination requested")
    TERMINATING = "terminating", _("Terminating")
    TERMINATED = "terminated", _("Terminated")
    UNKNOWN_FUTURE_VALUE = "unknownFutureValue", _("Unknown")


# States in which the partner can act in the customer's tenant.
ACCESS_STATUSES = frozenset({RelationshipStatusChoices.ACTIVE, RelationshipStatusChoices.EXPIRING})
# States after which access is gone for good.
ENDED_STATUSES = frozenset(
    {RelationshipStatusChoices.EXPIRED, RelationshipStatusChoices.TERMINATED}
)


class AccessAssignmentStatusChoices(models.TextChoices):
    """``delegatedAdminAccessAssignmentStatus``."""

    PENDING = "pending", _("Pending")
    ACTIVE = "active", _("Active")
    DELETING = "deleting", _("Deleting")
    DELETED = "deleted", _("Deleted")
    ERROR = "error", _("Error")
    UNKNOWN_FUTURE_VALUE = "unknownFutureValue", _("Unknown")


class GdapStateChoices(models.TextChoices):
    """A customer's delegated access as a whole, for filters and badges."""

    ACTIVE = "active", _("Active")
    EXPIRING = "expiring", _("Expiring within 30 days")
    EXPIRED = "expired", _("Expired")
    NONE = "none", _("None")


# Built-in Entra role definition ids (the same in every tenant) that partners grant through GDAP.
ENTRA_ROLES = {
    "62e90394-69f5-4237-9190-012177145e10": "Global Administrator",
    "f2ef992c-3afb-46b9-b7cf-a126ee74c451": "Global Reader",
    "f023fd81-a637-4b56-95fd-791ac0226033": "Service Support Administrator",
    "729827e3-9c14-49f7-bb1b-9608f156bbb8": "Helpdesk Administrator",
    "fe930be7-5e62-47db-91af-98c3a49a38b1": "User Administrator",
    "c4e39bd9-1100-46d3-8c65-fb160da0071f": "Authentication Administrator",
    "4d6ac14f-3453-41d0-bef9-a3e0c569773a": "License Administrator",
    "b0f54661-2d74-4c50-afa3-1ec803f12efe": "Billing Administrator",
    "29232cdf-9323-42fd-ade2-1d097af3e4de": "Exchange Administrator",
    "f28a1f50-f6e7-4571-818b-6a12f2af6b6c": "SharePoint Administrator",
    "69091246-20e8-4a56-aa4d-066075b2a7a8": "Teams Administrator",
    "3a2c62db-5318-420d-8d74-23affee5d9d5": "Intune Administrator",
    "194ae4cb-b126-40b2-bd5b-6091b380977d": "Security Administrator",
    "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9": "Conditional Access Administrator",
    "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3": "Application Administrator",
    "158c047a-c907-4556-b7ef-446551a6b5f7": "Cloud Application Administrator",
    "e8611ab8-c189-46e8-94e1-60213ab1f814": "Privileged Role Administrator",
    "88d8e3e3-8f55-4a1e-953a-9b9898b8876b": "Directory Readers",
    "4a5d8f65-41da-4de4-8968-e035b65339cf": "Reports Reader",
    "790c1fb9-7f7d-4f88-86a1-ef1f95c05c1b": "Message Center Reader",
    "44367163-eba1-44c3-98af-f5787879f96a": "Dynamics 365 Administrator",
    "11648597-926c-4cf3-9c36-bcebb0ba8dcc": "Power Platform Administrator",
}


def role_name(role_definition_id):
    return ENTRA_ROLES.get(role_definition_id, role_definition_id)
