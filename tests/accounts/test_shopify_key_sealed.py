"""The Shopify webhook signing key is stored sealed, like the 1ShoppingCart API key."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client

from pressrun.accounts.models import Publisher
from pressrun.accounts.services import publisher_set_cart_credentials
from pressrun.carts.models import InboundDelivery, Outcome
from pressrun.carts.shopify.verify import shopify_signature
from pressrun.core.sealed import seal, unseal
from tests.carts.shopify_payloads import order_json, shopify_headers

KEY = "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"
BEFORE = ("accounts", "0004_publisher_customer_contact_email")
AFTER = ("accounts", "0005_publisher_shopify_webhook_key_sealed")


def _row_text(publisher_id: int) -> str:
    """Every column of the publisher's row as stored, joined."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM accounts_publisher WHERE id = %s", [publisher_id])
        row = cursor.fetchone()
    return "\n".join(str(value) for value in row)


@pytest.mark.django_db
def test_the_key_is_stored_sealed_and_read_back_plain(make_publisher: Any) -> None:
    publisher = make_publisher()
    publisher_set_cart_credentials(publisher=publisher, shopify_webhook_key=KEY)
    stored = Publisher.objects.get(id=publisher.id)
    assert stored.shopify_webhook_key == KEY
    assert unseal(stored.shopify_webhook_key_sealed) == KEY
    assert KEY not in _row_text(publisher.id)
    assert KEY[-8:] not in _row_text(publisher.id)
    with pytest.raises(AttributeError):
        stored.shopify_webhook_key = "other"  # type: ignore[misc]


@pytest.mark.django_db
def test_an_unreadable_key_reads_blank_and_the_admin_says_so(
    make_publisher: Any, admin_client: Client
) -> None:
    publisher = make_publisher()
    # Sealed under another field key: what changing PRESSRUN_FIELD_KEY leaves behind.
    Publisher.objects.filter(id=publisher.id).update(shopify_webhook_key_sealed="gAAAAAbogus")
    stored = Publisher.objects.get(id=publisher.id)
    assert stored.shopify_webhook_key == ""
    page = admin_client.get(f"/admin/accounts/publisher/{publisher.id}/change/").content.decode()
    assert "saved but unreadable (the field key changed): enter it again" in page


@pytest.mark.django_db
def test_signed_deliveries_still_verify_against_the_sealed_key(
    make_publisher: Any, make_project: Any
) -> None:
    publisher = make_publisher()
    make_project(publisher, ecommerce_ids="{VTD234-100}")
    publisher_set_cart_credentials(publisher=publisher, shopify_webhook_key=KEY)
    url = f"/carts/shopify?idpub={publisher.id}&token={publisher.cart_token}"
    body = order_json()
    client = Client()

    good = client.post(
        url,
        body,
        content_type="application/json",
        **shopify_headers(signature=shopify_signature(key=KEY, body=body)),
    )
    assert good.status_code == 200, good.content
    forged = client.post(
        url,
        body,
        content_type="application/json",
        **shopify_headers(signature=shopify_signature(key="not-the-key", body=body)),
    )
    assert forged.status_code == 401
    assert forged.content == b"Signature does not match.\n"
    outcomes = list(InboundDelivery.objects.order_by("id").values_list("outcome", flat=True))
    assert outcomes == [Outcome.PENDING, Outcome.FAILED]


@pytest.mark.django_db(transaction=True)
def test_the_migration_seals_existing_keys_and_its_reverse_unseals_them() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate([BEFORE])
    old_apps = executor.loader.project_state([BEFORE]).apps
    old_publisher_model = old_apps.get_model("accounts", "Publisher")
    keyed = old_publisher_model.objects.create(
        email="a@example.com", password="x", shopify_webhook_key=KEY
    )
    blank = old_publisher_model.objects.create(email="b@example.com", password="x")

    executor = MigrationExecutor(connection)
    executor.migrate([AFTER])
    # Only the columns that exist at AFTER (later migrations add others).
    at_after = Publisher.objects.only("id", "shopify_webhook_key_sealed")
    assert at_after.get(id=keyed.id).shopify_webhook_key == KEY
    assert KEY not in _row_text(keyed.id)
    assert at_after.get(id=blank.id).shopify_webhook_key_sealed == ""

    executor = MigrationExecutor(connection)
    executor.migrate([BEFORE])
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, shopify_webhook_key FROM accounts_publisher ORDER BY id")
        assert cursor.fetchall() == [(keyed.id, KEY), (blank.id, "")]

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert Publisher.objects.get(id=keyed.id).shopify_webhook_key == KEY
    # Sealing is randomized: the same key seals differently each time.
    assert seal(KEY) != Publisher.objects.get(id=keyed.id).shopify_webhook_key_sealed
