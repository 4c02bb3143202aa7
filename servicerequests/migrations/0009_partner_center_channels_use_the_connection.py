"""Partner Center channels move to the partner's Microsoft connection.

The access tokens pasted into them before expired within the hour of pasting: they are dropped,
so every Partner Center channel sends with the connection's App+User token (a token pasted from
now on is an explicit fallback, used instead of it). Credentials that cannot be read (a key no
longer configured) are left as they are.
"""

import json

from cryptography.fernet import InvalidToken
from django.db import migrations

from core import crypto


def drop_pasted_tokens(apps, schema_editor):
    Channel = apps.get_model("servicerequests", "Channel")
    for channel in Channel.objects.filter(kind="partner_center").exclude(credentials_encrypted=""):
        try:
            credentials = json.loads(crypto.decrypt(channel.credentials_encrypted))
        except (InvalidToken, ValueError):
            continue
        if credentials.pop("access_token", None) is None:
            continue
        channel.credentials_encrypted = (
            crypto.encrypt(json.dumps(credentials)) if credentials else ""
        )
        channel.save(update_fields=["credentials_encrypted"])


class Migration(migrations.Migration):
    dependencies = [("servicerequests", "0008_note_deliveries_and_waiting_for_connection")]

    operations = [migrations.RunPython(drop_pasted_tokens, migrations.RunPython.noop)]
