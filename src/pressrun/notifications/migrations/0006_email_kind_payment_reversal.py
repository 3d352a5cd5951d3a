"""The email telling a publisher that Stripe took back (or returned) card-payment money."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("notifications", "0005_email_kind_address_error")]

    operations = [
        migrations.AlterField(
            model_name="outgoingemail",
            name="kind",
            field=models.CharField(
                choices=[
                    ("order_placed", "Order notification"),
                    ("order_shipped", "Tracking"),
                    ("order_changed", "Order changed"),
                    ("order_cancelled", "Order cancelled"),
                    ("hold_orders", "Orders awaiting payment"),
                    ("publisher_error", "Error report"),
                    ("payment_receipt", "Payment receipt"),
                    ("payment_reversal", "Card refund or dispute"),
                    ("address_error", "Address problem"),
                    ("address_reminder", "Address problem reminder"),
                ],
                max_length=20,
            ),
        ),
    ]
