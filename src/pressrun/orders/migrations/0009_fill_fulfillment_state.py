"""Give the orders placed before fulfillment existed their physical state.

PROCESSING orders are waiting while the postage window their customer was promised is still
open, else ready (since the window's end, or since they were paid when that came later);
SHIPPED orders are shipped (ship date and tracking kept; carrier and service were never
recorded, so they stay blank); ERROR orders are in address error with their description
(an ERROR order that was never paid stays unpaid: it is charged when its address is
corrected, `fulfillment/states.py`). HOLD and test orders have none. The history is not
rewritten; `fulfillment_updated_at` is the best time known for the state.
"""

from django.db import migrations
from django.db.models import F, Q
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone


def fill_fulfillment_state(apps, schema_editor):
    Order = apps.get_model("orders", "Order")
    now = timezone.now()
    paid_at = Coalesce(F("charged_at"), F("created_at"))
    processing = Order.objects.filter(status="PROCESSING", fulfillment_state="")
    processing.filter(address_changes_until__gt=now).update(
        fulfillment_state="waiting", fulfillment_updated_at=paid_at
    )
    processing.filter(address_changes_until__isnull=False).update(
        fulfillment_state="ready",
        fulfillment_updated_at=Greatest(paid_at, F("address_changes_until")),
    )
    processing.update(fulfillment_state="ready", fulfillment_updated_at=paid_at)
    Order.objects.filter(status="SHIPPED", fulfillment_state="").update(
        fulfillment_state="shipped", fulfillment_updated_at=F("updated_at")
    )
    Order.objects.filter(status="ERROR", fulfillment_state="").update(
        fulfillment_state="address_error", fulfillment_updated_at=F("updated_at")
    )


def clear_fulfillment_state(apps, schema_editor):
    Order = apps.get_model("orders", "Order")
    Order.objects.filter(~Q(fulfillment_state="")).update(
        fulfillment_state="", fulfillment_updated_at=None
    )


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0008_order_fulfillment_state"),
    ]

    operations = [
        migrations.RunPython(fill_fulfillment_state, clear_fulfillment_state),
    ]
