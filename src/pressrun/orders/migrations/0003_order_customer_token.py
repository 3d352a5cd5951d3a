"""Give every order a unique, unguessable address-change token (existing orders too)."""

import secrets

from django.db import migrations, models

import pressrun.orders.models


def fill_tokens(apps, schema_editor):
    Order = apps.get_model("orders", "Order")
    for order in Order.objects.filter(customer_token__isnull=True).only("id").iterator():
        Order.objects.filter(id=order.id).update(customer_token=secrets.token_urlsafe(24))


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0002_order_publisher_index_composite_only"),
    ]

    operations = [
        migrations.AddField(
            model_name="order",
            name="customer_token",
            field=models.CharField(editable=False, max_length=64, null=True),
        ),
        migrations.RunPython(fill_tokens, migrations.RunPython.noop, elidable=True),
        migrations.AlterField(
            model_name="order",
            name="customer_token",
            field=models.CharField(
                default=pressrun.orders.models.new_customer_token,
                editable=False,
                help_text="Secret in the customer's address-change link.",
                max_length=64,
                unique=True,
            ),
        ),
    ]
