"""The customer search's trigram index, on PostgreSQL only.

The list's search is ``search_text LIKE '%text%'`` (CustomerQuerySet.search): without this index
PostgreSQL reads every customer for it, twice a page (the rows and their count). A GIN index of
pg_trgm's trigrams answers such a LIKE from the index. pg_trgm is a trusted extension, so the
database's owner may create it; on SQLite (``make run``) there is neither, and the search scans.
The index is not in the model's state: SQLite rebuilds a table from that state when a later
migration alters it, and could not build this index.
"""

import sys

from django.db import DatabaseError, migrations, transaction

SEARCH_INDEX = "customers_customer_search_trgm"


def create_search_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    try:
        with transaction.atomic(using=schema_editor.connection.alias):
            schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DatabaseError as error:
        # A user who does not own the database may not create it: the search still works, by
        # reading every customer, and the index comes when the migration runs again after a
        # superuser has created the extension.
        sys.stderr.write(
            f"\n  customers 0005: no trigram index for the customer search ({error}).\n"
            "  Have a superuser run CREATE EXTENSION pg_trgm; then migrate customers 0004, and migrate.\n"
        )
        return
    schema_editor.execute(
        f"CREATE INDEX {SEARCH_INDEX} ON customers_customer USING gin (search_text gin_trgm_ops)"
    )


def drop_search_index(apps, schema_editor):
    # The extension stays: other tables may use it, and dropping it needs its owner.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {SEARCH_INDEX}")


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0004_customers_from_partner_center"),
    ]

    operations = [
        migrations.RunPython(create_search_index, drop_search_index, elidable=False),
    ]
