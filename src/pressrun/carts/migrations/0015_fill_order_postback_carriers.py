"""Order post-backs written before they recorded a carrier get the order's: a correction of
the carrier alone (the same tracking number) is told to the cart only when the row says which
carrier it sent. A row whose number is no longer the order's keeps none (what it sent is not
known); its next correction is told all the same, by the number."""

from typing import Any

from django.db import migrations
from django.db.models import OuterRef, Subquery, Value
from django.db.models.functions import Coalesce


def fill(apps: Any, schema_editor: Any) -> None:
    CartPostback = apps.get_model("carts", "CartPostback")
    Order = apps.get_model("orders", "Order")
    order = Order.objects.filter(id=OuterRef("order_id"), tracking_id=OuterRef("tracking_id"))
    CartPostback.objects.filter(order__isnull=False, carrier="").update(
        carrier=Coalesce(Subquery(order.values("carrier")[:1]), Value(""))
    )


class Migration(migrations.Migration):
    dependencies = [
        ("carts", "0014_cart_postback_carrier_of_orders"),
        ("orders", "0011_order_publisher_invoice_covering_on_sqlite"),
    ]

    operations = [migrations.RunPython(fill, migrations.RunPython.noop)]
