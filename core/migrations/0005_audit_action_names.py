"""Audit actions are named ``<object>.<verb>`` in the past tense; rename the entries written
under the older names so the log filters by one name per action."""

from django.db import migrations

RENAMED = {
    "webhook.create": "webhook.created",
    "webhook.update": "webhook.updated",
    "webhook.rotate_secret": "webhook.secret_rotated",
    "webhook.test": "webhook.tested",
    "webhook.redeliver": "webhook.redelivered",
    "psa.create": "psa_connection.created",
    "psa.update": "psa_connection.updated",
    "customer.psa_companies": "customer.psa_companies_changed",
    "django_admin.action": "django_admin.action_run",
}


def rename(apps, schema_editor, names):
    # The historical model's plain manager: the app's append-only queryset is not used here.
    entries = apps.get_model("core", "AuditEntry").objects
    for old, new in names.items():
        entries.filter(action=old).update(action=new)


def forwards(apps, schema_editor):
    rename(apps, schema_editor, RENAMED)


def backwards(apps, schema_editor):
    rename(apps, schema_editor, {new: old for old, new in RENAMED.items()})


class Migration(migrations.Migration):
    dependencies = [("core", "0004_event_object_id_length")]

    operations = [migrations.RunPython(forwards, backwards)]
