"""Ledger kinds for what Stripe takes back from a card payment (a refund, a dispute) or
returns (a dispute's reinstated funds)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("billing", "0006_delete_status_call")]

    operations = [
        migrations.AlterField(
            model_name="ledgerentry",
            name="kind",
            field=models.CharField(
                choices=[
                    ("payment", "Payment"),
                    ("order_charge", "Order charge"),
                    ("status_call", "Status call charge"),
                    ("adjustment", "Adjustment"),
                    ("order_refund", "Order refund"),
                    ("payment_refund", "Card refund"),
                    ("payment_dispute", "Card dispute"),
                    ("dispute_reinstated", "Card dispute won"),
                ],
                max_length=20,
            ),
        ),
    ]
