"""The per-call status-call records become hourly counters: each publisher's calls and charged
calls of each clock hour (UTC), so metering keeps counting the calls already made."""

from collections import Counter
from datetime import datetime, timedelta

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

BATCH = 2000


def _hour_start(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def calls_to_counters(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    StatusCall = apps.get_model("billing", "StatusCall")
    StatusCallHour = apps.get_model("billing", "StatusCallHour")
    calls: Counter[tuple[int, datetime]] = Counter()
    charged: Counter[tuple[int, datetime]] = Counter()
    # Python groups the hours: truncating a timestamp in SQL differs between the databases.
    for publisher_id, at, was_charged in (
        StatusCall.objects.order_by().values_list("publisher_id", "at", "charged").iterator()
    ):
        key = (publisher_id, _hour_start(at))
        calls[key] += 1
        charged[key] += int(was_charged)
    StatusCallHour.objects.bulk_create(
        (
            StatusCallHour(
                publisher_id=publisher_id,
                hour_start=hour_start,
                calls=count,
                charged=charged[publisher_id, hour_start],
            )
            for (publisher_id, hour_start), count in calls.items()
        ),
        batch_size=BATCH,
    )


def counters_to_calls(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    """Back to one record per call. The minute of each call is gone: each hour's calls are
    spread evenly over the hour, the charged ones last (as they were:
    the calls beyond the free allowance come after the free ones)."""
    StatusCall = apps.get_model("billing", "StatusCall")
    StatusCallHour = apps.get_model("billing", "StatusCallHour")
    rows = (
        StatusCall(
            publisher_id=counter.publisher_id,
            at=counter.hour_start + timedelta(seconds=index * 3600 / counter.calls),
            charged=index >= counter.calls - counter.charged,
        )
        for counter in StatusCallHour.objects.order_by("hour_start", "publisher_id").iterator()
        for index in range(counter.calls)
    )
    StatusCall.objects.bulk_create(rows, batch_size=BATCH)
    # Going forward again makes the counters anew from the records.
    StatusCallHour.objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("billing", "0004_status_call_hour")]

    operations = [migrations.RunPython(calls_to_counters, counters_to_calls)]
