"""1ShoppingCart deliveries from a TSMode=test URL get the key "test:<order id>".

One order is allowed per delivery key; with test and production notifications sharing the
order id as key, a test-mode notification (genuine or, now that the spec's URL needs no
token, forged) could keep the production order from being made. Existing test-mode
deliveries take the new key, so the rule is the same for old and new ones.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations
from django.db.models import Value
from django.db.models.functions import Concat

PREFIX = "test:"


def prefix_test_keys(apps: Any, schema_editor: Any) -> None:
    inbound_delivery = apps.get_model("carts", "InboundDelivery")
    inbound_delivery.objects.filter(cart="1shoppingcart", test_requested=True).exclude(
        external_key=""
    ).exclude(external_key__startswith=PREFIX).update(
        external_key=Concat(Value(PREFIX), "external_key")
    )


def unprefix_test_keys(apps: Any, schema_editor: Any) -> None:
    inbound_delivery = apps.get_model("carts", "InboundDelivery")
    for delivery in inbound_delivery.objects.filter(
        cart="1shoppingcart", external_key__startswith=PREFIX
    ).only("id", "external_key"):
        inbound_delivery.objects.filter(id=delivery.id).update(
            external_key=delivery.external_key.removeprefix(PREFIX)
        )


class Migration(migrations.Migration):
    dependencies = [("carts", "0004_shopify_order_stores")]

    operations = [migrations.RunPython(prefix_test_keys, unprefix_test_keys)]
