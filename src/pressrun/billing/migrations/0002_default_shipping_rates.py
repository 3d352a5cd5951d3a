"""The starting shipping price list. Operators edit it in the admin."""

from decimal import Decimal

from django.db import migrations

DEFAULT_RATES = [
    # (shipping method, region, first unit, each additional unit)
    ("standard", "domestic", "1.50", "0.50"),
    ("standard+tracking", "domestic", "4.50", "0.75"),
    ("priority", "domestic", "9.50", "1.00"),
    ("express", "domestic", "29.00", "1.50"),
    ("standard", "international", "6.00", "1.00"),
    ("standard+tracking", "international", "14.00", "1.50"),
    ("priority", "international", "32.00", "2.00"),
    ("express", "international", "55.00", "3.00"),
]


def add_rates(apps, schema_editor):
    ShippingRate = apps.get_model("billing", "ShippingRate")
    for method, region, first, additional in DEFAULT_RATES:
        ShippingRate.objects.get_or_create(
            shipping_method=method,
            region=region,
            defaults={"first_unit": Decimal(first), "each_additional_unit": Decimal(additional)},
        )


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]
    operations = [migrations.RunPython(add_rates, migrations.RunPython.noop)]
