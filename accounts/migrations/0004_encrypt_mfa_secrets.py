"""Encrypt the TOTP secrets and recovery-code seeds allauth stored in the clear.

From now on ``accounts.adapters.StaffMFAAdapter`` encrypts them when they are created. A Fernet
token always starts with ``gAAAAA``; a base32 TOTP secret or a hex seed never does.
"""

from django.db import migrations

FIELDS = {"totp": "secret", "recovery_codes": "seed"}


def encrypt_plain_secrets(apps, schema_editor):
    from core import crypto

    Authenticator = apps.get_model("mfa", "Authenticator")
    for authenticator in Authenticator.objects.filter(type__in=FIELDS):
        key = FIELDS[authenticator.type]
        value = authenticator.data.get(key)
        if value and not value.startswith("gAAAAA"):
            authenticator.data[key] = crypto.encrypt(value)
            authenticator.save(update_fields=["data"])


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_api_client_resource_scopes_and_rate_limit"),
        ("mfa", "0003_authenticator_type_uniq"),
    ]

    operations = [migrations.RunPython(encrypt_plain_secrets, migrations.RunPython.noop)]
