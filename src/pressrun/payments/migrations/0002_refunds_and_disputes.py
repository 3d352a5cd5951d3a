"""Refunds and disputes of credited card payments: Stripe's figures on the checkout and per
dispute, what was taken from the balance, and each event's ledger line."""

from decimal import Decimal

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0007_ledger_card_reversal_kinds"),
        ("payments", "0001_checkouts_and_stripe_events"),
    ]

    operations = [
        migrations.AddField(
            model_name="checkout",
            name="refunded",
            field=models.DecimalField(
                decimal_places=2,
                default=Decimal("0.00"),
                help_text="The largest cumulative refund Stripe reported for this payment.",
                max_digits=12,
                verbose_name="refunded in Stripe",
            ),
        ),
        migrations.AddField(
            model_name="checkout",
            name="taken_back",
            field=models.DecimalField(
                decimal_places=2,
                default=Decimal("0.00"),
                help_text=(
                    "What refunds and disputes took from the balance so far, net of disputes "
                    "won; never more than the amount credited."
                ),
                max_digits=12,
                verbose_name="taken from the balance",
            ),
        ),
        migrations.AddField(
            model_name="stripeevent",
            name="ledger_entry",
            field=models.OneToOneField(
                blank=True,
                help_text="The ledger line this event's refund or dispute wrote (of its checkout).",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="billing.ledgerentry",
            ),
        ),
        migrations.AlterField(
            model_name="stripeevent",
            name="outcome",
            field=models.CharField(
                choices=[
                    ("credited", "Credited the payment"),
                    ("already_credited", "Already credited (nothing more done)"),
                    ("not_paid", "Session not paid (yet)"),
                    ("unknown_session", "Not a session of this installation"),
                    ("mismatch", "Does not match our checkout: not credited"),
                    ("ignored", "Event type not used"),
                    ("refunded", "Took the refund from the balance"),
                    ("dispute_debited", "Took the disputed amount from the balance"),
                    ("dispute_returned", "Gave the dispute's reinstated funds back"),
                    ("no_change", "Already taken into account (nothing changed)"),
                    ("unknown_payment", "Not a payment pressrun credited: nothing changed"),
                    ("other_currency", "Another currency than the payment's: nothing changed"),
                    ("unreadable", "Amounts missing or malformed: nothing changed"),
                ],
                max_length=20,
            ),
        ),
        migrations.CreateModel(
            name="StripeDispute",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "dispute_id",
                    models.CharField(max_length=255, unique=True, verbose_name="Stripe dispute"),
                ),
                (
                    "amount",
                    models.DecimalField(
                        decimal_places=2, max_digits=12, verbose_name="disputed amount"
                    ),
                ),
                (
                    "status",
                    models.CharField(
                        blank=True, help_text="Stripe's, as last reported.", max_length=30
                    ),
                ),
                (
                    "withdrawn",
                    models.DecimalField(
                        blank=True,
                        decimal_places=2,
                        help_text="What Stripe withdrew for it (empty: nothing yet, e.g. an inquiry).",
                        max_digits=12,
                        null=True,
                    ),
                ),
                (
                    "reinstated",
                    models.DecimalField(
                        blank=True,
                        decimal_places=2,
                        help_text="What Stripe gave back when it closed (empty: nothing yet).",
                        max_digits=12,
                        null=True,
                    ),
                ),
                (
                    "taken",
                    models.DecimalField(
                        decimal_places=2,
                        default=Decimal("0.00"),
                        max_digits=12,
                        verbose_name="taken from the balance",
                    ),
                ),
                (
                    "given_back",
                    models.DecimalField(
                        decimal_places=2,
                        default=Decimal("0.00"),
                        max_digits=12,
                        verbose_name="given back to the balance",
                    ),
                ),
                ("created_at", models.DateTimeField()),
                ("updated_at", models.DateTimeField()),
                (
                    "checkout",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="disputes",
                        to="payments.checkout",
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at", "-id"],
            },
        ),
    ]
