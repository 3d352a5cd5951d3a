"""The placed events not yet relayed (`orders.relay`): intake writes its placed event with
`relay_pending` True instead of the follow-ups' task rows, and the worker's relay hands the
order to the layers above and clears it. Every event already written is None: its
follow-ups were queued by intake, as before.

On PostgreSQL the partial index is built `CONCURRENTLY`, outside a transaction: a plain
`CREATE INDEX` would block every insert into the events table, so every order, for as long
as it scans the whole table (the index itself starts empty)."""

from django.db import migrations, models

INDEX = models.Index(
    condition=models.Q(("relay_pending", True)), fields=["id"], name="orderevent_relay_pending"
)


def add_index(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            'CREATE INDEX CONCURRENTLY IF NOT EXISTS "orderevent_relay_pending" '
            'ON "orders_orderevent" ("id") WHERE "relay_pending"'
        )
    else:
        schema_editor.add_index(apps.get_model("orders", "OrderEvent"), INDEX)


def remove_index(apps, schema_editor):  # type: ignore[no-untyped-def]
    schema_editor.remove_index(apps.get_model("orders", "OrderEvent"), INDEX)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("orders", "0011_order_publisher_invoice_covering_on_sqlite"),
    ]

    operations = [
        migrations.AddField(
            model_name="orderevent",
            name="relay_pending",
            field=models.BooleanField(default=None, null=True),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddIndex(model_name="orderevent", index=INDEX)],
            database_operations=[migrations.RunPython(add_index, remove_index)],
        ),
    ]
