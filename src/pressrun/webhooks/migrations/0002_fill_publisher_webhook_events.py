"""Fill `Publisher.webhook_events`, the copy of what each publisher's endpoint takes, from
the endpoints that exist (webhooks/subscribers.py keeps it from now on)."""

from typing import Any

from django.db import migrations


def fill(apps: Any, schema_editor: Any) -> None:
    endpoint_model = apps.get_model("webhooks", "WebhookEndpoint")
    publisher_model = apps.get_model("accounts", "Publisher")
    for endpoint in endpoint_model.objects.filter(enabled=True).iterator():
        publisher_model.objects.filter(id=endpoint.publisher_id).update(
            webhook_events=sorted(endpoint.event_types)
        )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0010_publisher_webhook_events"),
        ("webhooks", "0001_webhook_endpoints_and_deliveries"),
    ]

    # Going back, the column itself goes with accounts 0010.
    operations = [migrations.RunPython(fill, migrations.RunPython.noop)]
