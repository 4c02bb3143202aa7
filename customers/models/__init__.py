"""The customers app's models, one module per group; import them from here."""

from customers.choices import (
    ContactRoleChoices,
    CustomerImportStatusChoices,
    CustomerRelationshipChoices,
    ServiceFamilyChoices,
    SubscriptionStatusChoices,
)
from customers.models.customer import (
    CUSTOMER_COLUMNS,
    DOMAIN_PATTERN,
    Contact,
    Customer,
    CustomerQuerySet,
    Subscription,
    Tag,
    validate_domain,
)
from customers.models.jobs import (
    CustomerImport,
    CustomerSyncRun,
    GdapSyncState,
    PartnerCenterSyncState,
)
from customers.models.published import CustomerLink, MicrosoftPost, link_options
from customers.models.relationships import AccessAssignment, DelegatedAdminRelationship

__all__ = [
    "CUSTOMER_COLUMNS",
    "DOMAIN_PATTERN",
    "AccessAssignment",
    "Contact",
    "ContactRoleChoices",
    "Customer",
    "CustomerImport",
    "CustomerImportStatusChoices",
    "CustomerLink",
    "CustomerQuerySet",
    "CustomerRelationshipChoices",
    "CustomerSyncRun",
    "DelegatedAdminRelationship",
    "GdapSyncState",
    "MicrosoftPost",
    "PartnerCenterSyncState",
    "ServiceFamilyChoices",
    "Subscription",
    "SubscriptionStatusChoices",
    "Tag",
    "link_options",
    "validate_domain",
]
