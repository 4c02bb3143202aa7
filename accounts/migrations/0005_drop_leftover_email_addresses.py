"""Drop the email addresses staff added on allauth's email page before it stopped being served.

Staff sign in with the address an administrator gave them (``User.email``), proven by the
invitation link. An unverified extra address kept them from setting up TOTP (allauth refuses
while any address is unverified) and could still receive password-reset links.
"""

from django.db import migrations
from django.db.models import F
from django.db.models.functions import Lower


def drop_leftover_addresses(apps, schema_editor):
    EmailAddress = apps.get_model("account", "EmailAddress")
    addresses = EmailAddress.objects.annotate(
        address=Lower("email"), own=Lower("user__email")
    )
    addresses.exclude(address=F("own")).delete()
    addresses.filter(address=F("own"), verified=False).update(verified=True)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_encrypt_mfa_secrets"),
        ("account", "0009_emailaddress_unique_primary_email"),
    ]

    operations = [migrations.RunPython(drop_leftover_addresses, migrations.RunPython.noop)]
