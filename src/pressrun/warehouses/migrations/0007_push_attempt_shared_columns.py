# The attempt's columns now come from core.models.OutboundAttempt, shared with webhook
# attempts: only their help texts change (no change to the table).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("warehouses", "0006_push_protocol"),
    ]

    operations = [
        migrations.AlterField(
            model_name="warehousepushattempt",
            name="number",
            field=models.PositiveSmallIntegerField(
                help_text="1, 2, ... counted over every attempt at sending it."
            ),
        ),
        migrations.AlterField(
            model_name="warehousepushattempt",
            name="response_excerpt",
            field=models.CharField(
                blank=True,
                help_text="The start of the response body, nothing more.",
                max_length=500,
            ),
        ),
    ]
