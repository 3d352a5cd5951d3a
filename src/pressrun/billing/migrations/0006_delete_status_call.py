"""The per-call status-call records are gone: metering counts per hour (`StatusCallHour`), and
each charge stays in the ledger with its time and its place among the day's calls."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("billing", "0005_status_calls_to_hourly_counters")]

    operations = [migrations.DeleteModel(name="StatusCall")]
