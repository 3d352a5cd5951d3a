"""Fill ProjectCartId from the eCommerce ID Strings saved before it existed.

A string the parser refuses is left as it is, with no rows: the project then matches no cart
order until someone corrects it, and saving it through the admin shows why.
"""

from typing import Any

from django.db import migrations

# The parser is a pure function of the text (no models), so using today's version here is
# what a historical copy would do.
from pressrun.catalog.ecommerce_ids import EcommerceIdsInvalid, cart_id_key, parse_ecommerce_ids

BATCH_SIZE = 500


def parse_existing(apps: Any, schema_editor: Any) -> None:
    project_model = apps.get_model("catalog", "Project")
    cart_id_model = apps.get_model("catalog", "ProjectCartId")
    rows = []
    projects = (
        project_model.objects.exclude(ecommerce_ids="")
        .filter(cart_ids__isnull=True)
        .values_list("id", "publisher_id", "ecommerce_ids")
        .order_by("id")
    )
    for project_id, publisher_id, text in projects.iterator():
        try:
            cart_ids = parse_ecommerce_ids(text)
        except EcommerceIdsInvalid:
            continue
        rows.extend(
            cart_id_model(
                project_id=project_id,
                publisher_id=publisher_id,
                cart_id=cart_id,
                key=cart_id_key(cart_id),
            )
            for cart_id in cart_ids
        )
        if len(rows) >= BATCH_SIZE:
            cart_id_model.objects.bulk_create(rows)
            rows = []
    cart_id_model.objects.bulk_create(rows)


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0002_project_cart_id"),
    ]

    operations = [
        # Reversing drops nothing here: 0002's reversal removes the whole table.
        migrations.RunPython(parse_existing, migrations.RunPython.noop),
    ]
