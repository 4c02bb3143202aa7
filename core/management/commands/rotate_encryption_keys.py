"""Re-encrypt every secret stored in the database under the newest FIELD_ENCRYPTION_KEYS key.

Key rotation: put the new key first in FIELD_ENCRYPTION_KEYS and keep the old ones after it
(everything stays readable), run this command, then drop the old keys.
"""

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from core import crypto

BATCH = 500
# allauth's MFA authenticators keep their secret inside a JSON column.
AUTHENTICATOR_SECRETS = {"totp": "secret", "recovery_codes": "seed"}


def encrypted_columns():
    """Every ``*_encrypted`` text field of every model: the convention for encrypted columns."""
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if field.name.endswith("_encrypted"):
                yield model, field.name


def _rotate_rows(queryset, read, write):
    """Rotate the values ``read(row)`` gives, in batches; returns (rotated, unreadable pks)."""
    rotated, unreadable, last_pk = 0, [], None
    while True:
        with transaction.atomic():
            batch = queryset.order_by("pk").select_for_update()
            if last_pk is not None:
                batch = batch.filter(pk__gt=last_pk)
            rows = list(batch[:BATCH])
            for row in rows:
                value = read(row)
                if not value:
                    continue
                try:
                    write(row, crypto.rotate(value))
                except crypto.InvalidToken:
                    unreadable.append(row.pk)
                    continue
                rotated += 1
        if len(rows) < BATCH:
            return rotated, unreadable
        last_pk = rows[-1].pk


class Command(BaseCommand):
    help = "Re-encrypt every stored secret under the newest key in FIELD_ENCRYPTION_KEYS."

    def handle(self, *args, **options):
        problems = []
        for model, name in encrypted_columns():

            def write(row, value, name=name):
                type(row).objects.filter(pk=row.pk).update(**{name: value})

            rotated, unreadable = _rotate_rows(
                model.objects.exclude(**{name: ""}),
                lambda row, name=name: getattr(row, name),
                write,
            )
            self._report(f"{model._meta.label}.{name}", rotated, unreadable, problems)

        Authenticator = apps.get_model("mfa", "Authenticator")

        def read_secret(row):
            return row.data.get(AUTHENTICATOR_SECRETS[row.type])

        def write_secret(row, value):
            row.data[AUTHENTICATOR_SECRETS[row.type]] = value
            Authenticator.objects.filter(pk=row.pk).update(data=row.data)

        rotated, unreadable = _rotate_rows(
            Authenticator.objects.filter(type__in=AUTHENTICATOR_SECRETS), read_secret, write_secret
        )
        self._report("mfa.Authenticator.data", rotated, unreadable, problems)
        if problems:
            raise CommandError(
                "Some values could not be decrypted with any key in FIELD_ENCRYPTION_KEYS and "
                "were left as they are: " + "; ".join(problems)
            )

    def _report(self, column, rotated, unreadable, problems):
        self.stdout.write(f"{column}: {rotated} re-encrypted")
        if unreadable:
            problems.append(f"{column} rows {', '.join(map(str, unreadable[:20]))}")
