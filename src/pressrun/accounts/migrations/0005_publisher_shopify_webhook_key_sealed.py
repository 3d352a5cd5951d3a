"""The Shopify webhook signing key is stored sealed, like the 1ShoppingCart API key.

Existing plain keys are sealed in place (`core.sealed`, with the installation's
PRESSRUN_FIELD_KEY or secret key); the reverse unseals them back into the plain column (a key
that no longer unseals comes back blank, as it reads today).
"""

from django.db import migrations, models

from pressrun.core.sealed import seal, unseal


def seal_plain_keys(apps, schema_editor):
    Publisher = apps.get_model("accounts", "Publisher")
    for publisher in Publisher.objects.exclude(shopify_webhook_key="").only(
        "id", "shopify_webhook_key"
    ):
        Publisher.objects.filter(id=publisher.id).update(
            shopify_webhook_key_sealed=seal(publisher.shopify_webhook_key)
        )


def unseal_keys(apps, schema_editor):
    Publisher = apps.get_model("accounts", "Publisher")
    for publisher in Publisher.objects.exclude(shopify_webhook_key_sealed="").only(
        "id", "shopify_webhook_key_sealed"
    ):
        Publisher.objects.filter(id=publisher.id).update(
            shopify_webhook_key=unseal(publisher.shopify_webhook_key_sealed)[:200]
        )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_publisher_customer_contact_email"),
    ]

    operations = [
        migrations.AddField(
            model_name="publisher",
            name="shopify_webhook_key_sealed",
            field=models.TextField(
                blank=True,
                help_text="Shopify's webhook signing key (Settings > Notifications > Webhooks), stored encrypted; set it with publisher_set_cart_credentials. Blank: signatures are not checked (the URL token still is).",
                verbose_name="Shopify webhook signing key (sealed)",
            ),
        ),
        migrations.RunPython(seal_plain_keys, unseal_keys, elidable=False),
        migrations.RemoveField(
            model_name="publisher",
            name="shopify_webhook_key",
        ),
    ]
