# The attempt's columns now come from core.models.OutboundAttempt, shared with warehouse
# pushes' attempts: only a help text changes (no change to the table).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0002_fill_publisher_webhook_events"),
    ]

    operations = [
        migrations.AlterField(
            model_name="webhookattempt",
            name="number",
            field=models.PositiveSmallIntegerField(
                help_text="1, 2, ... counted over every attempt at sending it."
            ),
        ),
    ]
