"""Partner Center's support topics, and the manual channels that give every category a route."""

from django.db import migrations

# (Partner Center id, name, description, category)
TOPICS = [
    ("32444667", "Partner Center Issues", "Questions from CSP partners using Partner Center", "commercial"),
    ("32444668", "Billing", "Invoices, reconciliation files, charges and payments", "commercial"),
    ("32444669", "Subscription management", "Purchasing, upgrading, suspending or cancelling customer subscriptions", "commercial"),
    ("32444670", "Licensing", "Assigning licenses, license counts and license availability", "commercial"),
    ("32444671", "Cannot manage my profile", "Errors or problems with managing a profile", "commercial"),
    ("32444672", "Azure technical issue", "Technical problems with Azure services in customer subscriptions", "technical"),
    ("32444673", "Microsoft 365 technical issue", "Technical problems with Microsoft 365 services for customers", "technical"),
    ("32444674", "Exchange Online", "Mail flow, mailboxes and Exchange Online administration", "technical"),
    ("32444675", "SharePoint Online", "SharePoint Online sites, OneDrive and file sharing", "technical"),
    ("32444676", "Teams", "Microsoft Teams chat, meetings, calling and administration", "technical"),
    ("32444677", "Identity and access (Entra)", "Sign-in, multifactor authentication, Conditional Access and Microsoft Entra ID", "technical"),
    ("32444678", "Intune", "Device enrollment, compliance policies and app management in Microsoft Intune", "technical"),
    ("32444679", "Security and compliance", "Microsoft Defender, Microsoft Purview and security alerts", "technical"),
    ("32444680", "Dynamics 365", "Dynamics 365 apps and Power Platform", "technical"),
]

PARTNER_CENTER_NEW_REQUEST = "https://partner.microsoft.com/dashboard/support/servicerequests/create"


def seed(apps, schema_editor):
    SupportTopic = apps.get_model("servicerequests", "SupportTopic")
    Channel = apps.get_model("servicerequests", "Channel")
    for pc_id, name, description, category in TOPICS:
        SupportTopic.objects.get_or_create(
            partner_center_id=pc_id,
            defaults={"name": name, "description": description, "category": category},
        )
    Channel.objects.get_or_create(
        name="Partner Center commercial support (manual)",
        defaults={
            "kind": "manual",
            "category": "commercial",
            "tier": "commercial",
            "endpoint": PARTNER_CENTER_NEW_REQUEST,
        },
    )
    Channel.objects.get_or_create(
        name="Partner Center technical support (manual)",
        defaults={
            "kind": "manual",
            "category": "technical",
            "tier": "signature_cloud",
            "endpoint": PARTNER_CENTER_NEW_REQUEST,
        },
    )


class Migration(migrations.Migration):
    dependencies = [("servicerequests", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
