"""The rate limit's window count moves here from the carts app (carts 0013), its rows kept.

Here only the model state is created: the table is the carts' `carts_deliveryratewindow`,
renamed to `core_ratewindow` by carts 0013 (which depends on this migration), so no row is
copied and no table rebuilt. The index and the constraint keep their names."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0002_installation_settings"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="RateWindow",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        (
                            "scope",
                            models.CharField(
                                help_text='Who is counted, as the endpoint names it: "<cart>:publisher:<id>", "warehouse:connection:<id>", "unverified:<client address>"…',
                                max_length=120,
                            ),
                        ),
                        ("window_start", models.DateTimeField()),
                        ("count", models.PositiveIntegerField(default=0)),
                    ],
                    options={
                        "indexes": [
                            models.Index(fields=["window_start"], name="deliveryrate_window_start")
                        ],
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("scope", "window_start"),
                                name="deliveryratewindow_unique_window",
                            )
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
