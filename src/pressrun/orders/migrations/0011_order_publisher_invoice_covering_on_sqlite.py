"""On SQLite, `order_publisher_invoice` also holds the columns a status reply shows, so the
status call's lookup of up to 100 invoices reads the index alone, not a random page of the
orders table for each order (about 0.3 ms of a call at a million orders; docs/performance.md,
"twelfth round").

SQLite has no `INCLUDE`, so the columns join the key, after (publisher, invoice): every
lookup that used the index still does. The index keeps its name and its place in the models'
state, which names only (publisher, invoice); on PostgreSQL it stays that, as a key of long
texts there could pass btree's limit on an entry's size. `tests/orders/test_status_index.py`
checks the index against the columns `orders.selectors.order_by_invoices` reads: a table
rebuilt by a later migration on SQLite makes the index from the models' state again, and that
test says so.
"""

from django.db import migrations

NARROW = 'CREATE INDEX "order_publisher_invoice" ON "orders_order" ("publisher_id", "invoice")'
COVERING = (
    'CREATE INDEX "order_publisher_invoice" ON "orders_order" ("publisher_id", "invoice", '
    '"mode", "status", "name", "error_description", "ship_date", "shipping_method", '
    '"tracking_id")'
)


def _rebuild(create: str):  # type: ignore[no-untyped-def]
    def rebuild(apps, schema_editor):  # type: ignore[no-untyped-def]
        if schema_editor.connection.vendor != "sqlite":
            return
        schema_editor.execute('DROP INDEX IF EXISTS "order_publisher_invoice"')
        schema_editor.execute(create)

    return rebuild


class Migration(migrations.Migration):
    dependencies = [("orders", "0010_order_address_check")]

    operations = [
        migrations.RunPython(_rebuild(COVERING), _rebuild(NARROW), elidable=False),
    ]
