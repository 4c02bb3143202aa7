"""The customer app's choice tables: how the partner sells to a customer, contact roles,
subscription families and states (as Partner Center names them), and customer import states.
The delegated-admin (GDAP) ones are in ``customers.gdap``."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class CustomerRelationshipChoices(models.TextChoices):
    """How the partner sells to the customer (Partner Center's CSP models)."""

    RESELLER = "reseller", _("Reseller (direct bill)")
    INDIRECT_RESELLER = "indirect_reseller", _("Indirect reseller")
    DIRECT = "direct", _("Direct (Microsoft bills)")


class ContactRoleChoices(models.TextChoices):
    PRIMARY = "primary", _("Primary")
    TECHNICAL = "technical", _("Technical")
    BILLING = "billing", _("Billing")
    SECURITY = "security", _("Security")
    OTHER = "other", _("Other")


class ServiceFamilyChoices(models.TextChoices):
    MICROSOFT_365 = "microsoft_365", _("Microsoft 365")
    AZURE = "azure", _("Azure")
    DYNAMICS_365 = "dynamics_365", _("Dynamics 365")
    POWER_PLATFORM = "power_platform", _("Power Platform")
    WINDOWS = "windows", _("Windows")
    OTHER = "other", _("Other")


class SubscriptionStatusChoices(models.TextChoices):
    """Partner Center subscription states."""

    ACTIVE = "active", _("Active")
    PENDING = "pending", _("Pending")
    SUSPENDED = "suspended", _("Suspended")
    EXPIRED = "expired", _("Expired")
    DISABLED = "disabled", _("Disabled")
    DELETED = "deleted", _("Deleted")


class CustomerImportStatusChoices(models.TextChoices):
    PENDING = "pending", _("Waiting for a worker")
    VALIDATING = "validating", _("Checking rows")
    IMPORTING = "importing", _("Importing")
    SUCCEEDED = "succeeded", _("Imported")
    FAILED = "failed", _("Not imported")
