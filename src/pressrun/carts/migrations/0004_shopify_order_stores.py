"""Fill `Order.store` for Shopify orders placed before the field existed.

The shop of a Shopify order is in the key of the delivery that created it
("shop-domain:order-id"). Older orders keep their invoice (publishers may have looked them up
by it); only new Shopify orders get the shop in the invoice.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db import migrations

CHUNK = 500


def fill_shopify_stores(apps: Any, schema_editor: Any) -> None:
    inbound_delivery = apps.get_model("carts", "InboundDelivery")
    order_model = apps.get_model("orders", "Order")
    links = (
        inbound_delivery.orders.through.objects.filter(
            inbounddelivery__cart="shopify", inbounddelivery__outcome="order_created"
        )
        .exclude(inbounddelivery__external_key="")
        .values_list("order_id", "inbounddelivery__external_key")
    )
    orders_by_shop: dict[str, list[int]] = defaultdict(list)
    for order_id, key in links.iterator(chunk_size=CHUNK):
        shop = key.rsplit(":", 1)[0] if ":" in key else ""
        if shop:
            orders_by_shop[shop[:255]].append(order_id)
    for shop, order_ids in orders_by_shop.items():
        for start in range(0, len(order_ids), CHUNK):
            order_model.objects.filter(
                id__in=order_ids[start : start + CHUNK], source="shopify", store=""
            ).update(store=shop)


class Migration(migrations.Migration):
    dependencies = [
        ("carts", "0003_delivery_key_constraint_retry_queued"),
        ("orders", "0006_order_store"),
    ]

    operations = [migrations.RunPython(fill_shopify_stores, migrations.RunPython.noop)]
