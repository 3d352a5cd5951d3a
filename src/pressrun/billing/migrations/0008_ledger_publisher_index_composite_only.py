"""The ledger's index on the publisher alone goes: `ledger_publisher_at` (publisher, created_at)
serves every lookup by publisher, and each charge wrote both b-trees (docs/performance.md,
"fifth round").

Only the index is dropped. Django's AlterField would rebuild the whole table on SQLite (a copy
of every ledger entry, under the write lock, while orders wait); dropping the index is instant
on both databases."""

import django.db.models.deletion
from django.db import migrations, models

COLUMNS = ["publisher_id"]


def _single_column_indexes(schema_editor, model):
    with schema_editor.connection.cursor() as cursor:
        constraints = schema_editor.connection.introspection.get_constraints(
            cursor, model._meta.db_table
        )
    return [
        name
        for name, info in constraints.items()
        if info["index"]
        and not info["unique"]
        and not info["primary_key"]
        and info["columns"] == COLUMNS
    ]


def drop_publisher_index(apps, schema_editor):
    model = apps.get_model("billing", "LedgerEntry")
    for name in _single_column_indexes(schema_editor, model):
        schema_editor.execute(schema_editor._delete_index_sql(model, name))


def create_publisher_index(apps, schema_editor):
    model = apps.get_model("billing", "LedgerEntry")
    if not _single_column_indexes(schema_editor, model):
        field = model._meta.get_field("publisher")
        schema_editor.execute(schema_editor._create_index_sql(model, fields=[field]))


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0009_sign_in_realm_warehouse"),
        ("billing", "0007_ledger_card_reversal_kinds"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="ledgerentry",
                    name="publisher",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="ledger",
                        to="accounts.publisher",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunPython(drop_publisher_index, create_publisher_index),
            ],
        ),
    ]
