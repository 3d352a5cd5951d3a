"""The rate limit's window count is core's now (core 0003 holds the model): the table is
renamed to the name core's model has, its rows, index and constraint kept, and the carts'
model leaves the state. Backwards the table gets its carts name again."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("carts", "0012_stock_sync_to_shopify"),
        ("core", "0003_rate_window"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.AlterModelTable(name="deliveryratewindow", table="core_ratewindow"),
            ],
            state_operations=[
                migrations.DeleteModel(name="DeliveryRateWindow"),
            ],
        ),
    ]
