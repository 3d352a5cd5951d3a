"""POST /carts/shopify: token, signature, storage, dedupe, processing into one order."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django_tasks_db.models import DBTaskResult

from pressrun.accounts.services import publisher_rotate_cart_token, publisher_set_cart_credentials
from pressrun.carts.models import InboundDelivery, Outcome
from pressrun.carts.services import delivery_process, delivery_replay
from pressrun.carts.shopify.verify import shopify_signature
from pressrun.carts.tasks import process_delivery
from pressrun.core.sealed import hint
from pressrun.orders.models import Order
from tests.carts.shopify_payloads import (
    BIG_ORDER_ID,
    BIGGER_ORDER_ID,
    SHOP,
    order_json,
    shopify_headers,
)
from tests.threads import skip_unless_threads_share_the_database

pytestmark = pytest.mark.django_db

SIGNING_KEY = "shpss_0123456789abcdef0123456789abcdef"


@pytest.fixture
def publisher(make_publisher: Any) -> Any:
    return make_publisher(balance="100")


@pytest.fixture
def cd(make_project: Any, publisher: Any) -> Any:
    return make_project(publisher, title="Greatest Hits CD", ecommerce_ids="{VTD234-100}")


def url(publisher: Any, *, token: str | None = None, extra: str = "") -> str:
    token = publisher.cart_token if token is None else token
    return f"/carts/shopify?idpub={publisher.id}&token={token}{extra}"


def post(target: str, body: bytes | None = None, **headers: Any) -> Any:
    if not headers:
        headers = shopify_headers()
    return Client().post(
        target,
        data=order_json() if body is None else body,
        content_type="application/json",
        **headers,
    )


def process_pending() -> list[InboundDelivery]:
    pending = InboundDelivery.objects.filter(outcome=Outcome.PENDING).order_by("id")
    return [delivery_process(delivery_id=d.id) for d in list(pending)]


def test_a_delivery_is_stored_queued_and_becomes_one_order(publisher: Any, cd: Any) -> None:
    response = post(url(publisher))
    assert response.status_code == 200
    delivery = InboundDelivery.objects.get()
    assert delivery.outcome == Outcome.PENDING
    assert bytes(delivery.body) == order_json()
    assert delivery.delivery_id == "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"
    assert delivery.external_key == f"{SHOP}:{BIG_ORDER_ID}"
    assert delivery.topic == "orders/fulfilled"
    assert DBTaskResult.objects.filter(task_path=process_delivery.module_path).count() == 1

    assert process_delivery.call(delivery_id=delivery.id) == Outcome.ORDER_CREATED
    delivery.refresh_from_db()
    order = Order.objects.get()
    assert list(delivery.orders.all()) == [order]
    assert delivery.attempts == 1
    assert delivery.processed_at is not None
    assert order.external_ref == BIG_ORDER_ID
    # Shopify numbers orders per shop: the invoice names the shop too.
    assert order.invoice == "#1001@press-demo"
    assert order.store == SHOP
    assert order.source == "shopify"
    assert order.mode == "prod"
    assert (order.name, order.city, order.state, order.country) == (
        "Bob Norman",
        "Louisville",
        "KY",
        "US",
    )
    assert [(line.project_id, line.quantity) for line in order.lines.all()] == [(cd.id, 1)]

    # Running the task again (a retry, a second worker) changes nothing.
    assert process_delivery.call(delivery_id=delivery.id) == Outcome.ORDER_CREATED
    assert Order.objects.count() == 1
    delivery.refresh_from_db()
    assert delivery.attempts == 1


def test_the_token_may_be_a_path_segment(publisher: Any, cd: Any) -> None:
    response = post(f"/carts/shopify/{publisher.cart_token}?idpub={publisher.id}")
    assert response.status_code == 200
    assert InboundDelivery.objects.count() == 1


@pytest.mark.parametrize(
    "case", ["unknown publisher", "wrong token", "bad id", "no token, unknown publisher"]
)
def test_token_failures_are_401_and_reveal_nothing(publisher: Any, case: str) -> None:
    targets = {
        "unknown publisher": url(publisher, token=publisher.cart_token).replace(
            f"idpub={publisher.id}", f"idpub={publisher.id + 999}"
        ),
        "wrong token": url(publisher, token=publisher.cart_token + "x"),
        "bad id": f"/carts/shopify?idpub=abc&token={publisher.cart_token}",
        "no token, unknown publisher": f"/carts/shopify?idpub={publisher.id + 999}",
    }
    response = post(targets[case])
    reference = post("/carts/shopify?idpub=999999&token=nothing")
    assert response.status_code == reference.status_code == 401
    assert response.content == reference.content
    assert InboundDelivery.objects.count() == 0


def test_an_inactive_publisher_is_refused(publisher: Any) -> None:
    publisher.is_active = False
    publisher.save()
    assert post(url(publisher)).status_code == 401


def test_a_rotated_token_stops_the_old_url(publisher: Any, cd: Any) -> None:
    old = url(publisher)
    new_token = publisher_rotate_cart_token(publisher=publisher)
    assert post(old).status_code == 401
    assert post(url(publisher, token=new_token)).status_code == 200


def test_every_publisher_gets_its_own_token(make_publisher: Any) -> None:
    tokens = {make_publisher().cart_token for _ in range(3)}
    assert len(tokens) == 3
    assert all(len(token) >= 32 for token in tokens)


def test_get_is_not_allowed(publisher: Any) -> None:
    assert Client().get(url(publisher)).status_code == 405


class TestSignature:
    @pytest.fixture(autouse=True)
    def _signed(self, publisher: Any) -> None:
        publisher_set_cart_credentials(publisher=publisher, shopify_webhook_key=SIGNING_KEY)

    def test_a_good_signature_is_accepted(self, publisher: Any, cd: Any) -> None:
        body = order_json()
        signature = shopify_signature(key=SIGNING_KEY, body=body)
        response = post(url(publisher), body, **shopify_headers(signature=signature))
        assert response.status_code == 200
        delivery = InboundDelivery.objects.get()
        assert delivery.outcome == Outcome.PENDING
        assert not any("hmac" in name.lower() for name in delivery.headers)
        assert delivery.headers["X-Shopify-Topic"] == "orders/fulfilled"

    @pytest.mark.parametrize(
        ("signature", "reason"),
        [(None, "Signature missing."), ("AAAA" + "=" * 40, "Signature does not match.")],
    )
    def test_a_bad_or_missing_signature_is_stored_as_failed(
        self, publisher: Any, cd: Any, signature: str | None, reason: str
    ) -> None:
        response = post(url(publisher), order_json(), **shopify_headers(signature=signature))
        assert response.status_code == 401
        delivery = InboundDelivery.objects.get()
        assert (delivery.outcome, delivery.reason) == (Outcome.FAILED, reason)
        assert delivery.delivery_id == ""  # a forgery cannot claim a genuine webhook id
        assert not any("hmac" in name.lower() for name in delivery.headers)
        assert not DBTaskResult.objects.exists()
        assert not delivery_replay(delivery_id=delivery.id)  # never acts on a forgery
        # The genuine delivery with the same webhook id still gets in.
        body = order_json()
        good = shopify_headers(signature=shopify_signature(key=SIGNING_KEY, body=body))
        assert post(url(publisher), body, **good).status_code == 200
        process_pending()
        assert Order.objects.count() == 1

    def test_a_signature_over_other_bytes_fails(self, publisher: Any, cd: Any) -> None:
        signature = shopify_signature(key=SIGNING_KEY, body=order_json(name="#9999"))
        response = post(url(publisher), order_json(), **shopify_headers(signature=signature))
        assert response.status_code == 401


def test_secret_headers_are_not_stored(publisher: Any, cd: Any) -> None:
    headers = shopify_headers()
    headers.update(
        HTTP_AUTHORIZATION="Bearer x",
        HTTP_COOKIE="a=b",
        HTTP_X_ACCESS_TOKEN="t",
        HTTP_X_SIGNATURE="s",
    )
    assert post(url(publisher), **headers).status_code == 200
    stored = InboundDelivery.objects.get().headers
    assert not [
        n for n in stored if any(w in n.lower() for w in ("auth", "cookie", "token", "signature"))
    ]
    assert stored["X-Shopify-Webhook-Id"]


def test_a_body_over_1_mb_is_413_and_recorded(publisher: Any) -> None:
    response = post(url(publisher), b"{" + b" " * 1_000_001 + b"}")
    assert response.status_code == 413
    delivery = InboundDelivery.objects.get()
    assert delivery.outcome == Outcome.FAILED
    assert "1 MB" in delivery.reason


def test_a_body_just_under_1_mb_is_accepted(publisher: Any, cd: Any) -> None:
    body = order_json()
    body = body[:-1] + b"," + b'"note": "' + b"x" * (999_000 - len(body)) + b'"}'
    assert post(url(publisher), body).status_code == 200


@pytest.mark.parametrize("body", [b"{not json", b"[]", b"\xff"])
def test_malformed_json_is_400_and_stored(publisher: Any, body: bytes) -> None:
    response = post(url(publisher), body)
    assert response.status_code == 400
    delivery = InboundDelivery.objects.get()
    assert delivery.outcome == Outcome.FAILED
    assert bytes(delivery.body) == body
    assert not DBTaskResult.objects.exists()


def test_a_repeated_webhook_id_stores_nothing_new(publisher: Any, cd: Any) -> None:
    assert post(url(publisher)).status_code == 200
    assert post(url(publisher)).status_code == 200
    assert InboundDelivery.objects.count() == 1
    process_pending()
    assert post(url(publisher)).status_code == 200
    assert InboundDelivery.objects.count() == 1
    assert Order.objects.count() == 1


def test_one_order_across_topics_and_webhook_ids(publisher: Any, cd: Any) -> None:
    publisher.shopify_topics = "orders/paid,orders/fulfilled"
    publisher.save()
    post(url(publisher), **shopify_headers(webhook_id="w-1", topic="orders/paid"))
    post(url(publisher), **shopify_headers(webhook_id="w-2", topic="orders/fulfilled"))
    first, second = process_pending()
    assert first.outcome == Outcome.ORDER_CREATED
    assert second.outcome == Outcome.DUPLICATE
    assert Order.objects.count() == 1
    # The same order id from another shop is another order (different external key).
    post(
        url(publisher),
        order_json(name="#1002"),
        **shopify_headers(webhook_id="w-3", shop="other.myshopify.com"),
    )
    (third,) = process_pending()
    assert third.outcome == Outcome.ORDER_CREATED


def test_topics_the_publisher_did_not_select_are_ignored(publisher: Any, cd: Any) -> None:
    post(url(publisher), **shopify_headers(topic="orders/create"))
    (delivery,) = process_pending()
    assert delivery.outcome == Outcome.IGNORED
    assert "orders/create" in delivery.reason
    assert not Order.objects.exists()


def test_bonus_disc_sku_makes_one_order_with_two_lines(publisher: Any, make_project: Any) -> None:
    album = make_project(publisher, title="Album", ecommerce_ids="{ALBUM-1}")
    bonus = make_project(
        publisher, title="Bonus", ecommerce_ids="{ALBUM-1}", confirm_shared_ids=True
    )
    post(url(publisher), order_json(skus=(("ALBUM-1", 2, "Album"),)))
    (delivery,) = process_pending()
    assert delivery.outcome == Outcome.ORDER_CREATED
    order = Order.objects.get()
    assert sorted((line.project_id, line.quantity) for line in order.lines.all()) == [
        (album.id, 2),
        (bonus.id, 2),
    ]


def test_method_2_sku(publisher: Any, make_project: Any) -> None:
    project = make_project(publisher, title="Plain")
    post(url(publisher), order_json(skus=((str(project.id), 1, "Plain"),)))
    (delivery,) = process_pending()
    assert delivery.outcome == Outcome.ORDER_CREATED
    assert Order.objects.get().lines.get().project_id == project.id


def test_unmatched_lines_are_recorded_and_a_replay_after_fixing_works(
    publisher: Any, make_project: Any
) -> None:
    post(url(publisher), order_json(skus=(("POSTER-9", 1, "Tour poster"), (None, 1, "Gift wrap"))))
    (delivery,) = process_pending()
    assert delivery.outcome == Outcome.UNMATCHED
    assert "POSTER-9" in delivery.reason
    assert "Tour poster" in delivery.reason
    assert not Order.objects.exists()

    make_project(publisher, title="Poster CD", ecommerce_ids="{POSTER-9}")
    assert delivery_replay(delivery_id=delivery.id)
    assert process_delivery.call(delivery_id=delivery.id) == Outcome.ORDER_CREATED
    assert Order.objects.count() == 1
    assert not delivery_replay(delivery_id=delivery.id)  # an order was made: never again


def test_skipped_lines_are_noted_on_a_created_order(publisher: Any, cd: Any) -> None:
    post(url(publisher), order_json(skus=(("VTD234-100", 1, "CD"), ("MUG", 1, "Mug"))))
    (delivery,) = process_pending()
    assert delivery.outcome == Outcome.ORDER_CREATED
    assert "MUG" in delivery.reason


def test_intake_refusals_fail_the_delivery_with_the_message(publisher: Any, cd: Any) -> None:
    body = order_json().replace(b'"zip": "40202"', b'"zip": null')
    post(url(publisher), body)
    (delivery,) = process_pending()
    assert delivery.outcome == Outcome.FAILED
    assert "postal code" in delivery.reason.lower()
    assert not Order.objects.exists()


def test_test_mode_from_the_url_or_the_order(publisher: Any, cd: Any) -> None:
    post(url(publisher, extra="&mode=test"), **shopify_headers(webhook_id="t-1"))
    post(
        url(publisher),
        order_json(order_id="5", name="#1005", test=True),
        **shopify_headers(webhook_id="t-2"),
    )
    process_pending()
    assert [order.mode for order in Order.objects.order_by("id")] == ["test", "test"]
    assert [order.status for order in Order.objects.order_by("id")] == ["TEST", "TEST"]


def test_shipping_lines_choose_the_mail_method(publisher: Any, cd: Any) -> None:
    post(
        url(publisher),
        order_json(shipping_title="USPS Priority Mail"),
        **shopify_headers(webhook_id="m-1"),
    )
    post(
        url(publisher),
        order_json(order_id="7", name="#1007", shipping_title="Express", shipping_code=None),
        **shopify_headers(webhook_id="m-2"),
    )
    post(
        url(publisher), order_json(order_id="8", name="#1008"), **shopify_headers(webhook_id="m-3")
    )
    process_pending()
    methods = [order.mail_method for order in Order.objects.order_by("id")]
    assert methods == ["priority", "express", publisher.default_mail_method]


def test_large_ids_are_exact_everywhere(publisher: Any, cd: Any) -> None:
    post(url(publisher), order_json(order_id=BIGGER_ORDER_ID, name="#2001"))
    (delivery,) = process_pending()
    assert delivery.external_key == f"{SHOP}:{BIGGER_ORDER_ID}"
    assert Order.objects.get().external_ref == BIGGER_ORDER_ID


def test_carturls_prints_the_exact_urls(publisher: Any, capsys: Any) -> None:
    call_command("carturls", "--publisher", str(publisher.id))
    base = "http://127.0.0.1:8000"
    token, pid = publisher.cart_token, publisher.id
    assert capsys.readouterr().out.splitlines() == [
        f"Shopify: {base}/carts/shopify?idpub={pid}&token={token}",
        f"Shopify (test mode): {base}/carts/shopify?idpub={pid}&token={token}&mode=test",
        f"SamCart: {base}/carts/samcart?idpub={pid}&token={token}",
        f"SamCart (test mode): {base}/carts/samcart?idpub={pid}&token={token}&mode=test",
        f"1ShoppingCart: {base}/carts/1shoppingcart?TSMode=prod&TSPub={pid}",
        f"1ShoppingCart (test mode, errors emailed): {base}/carts/1shoppingcart?TSMode=test"
        f"&TSPub={pid}&TSErrEM=" + publisher.email.replace("@", "%40"),
        f"Shopify (once its signing key is saved): {base}/carts/shopify?idpub={pid}",
    ]
    # With the signing key saved, Shopify's URL is the spec's: no token.
    publisher_set_cart_credentials(publisher=publisher, shopify_webhook_key=SIGNING_KEY)
    call_command("carturls", "--publisher", str(publisher.id))
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == [
        f"Shopify: {base}/carts/shopify?idpub={pid}",
        f"Shopify (test mode): {base}/carts/shopify?idpub={pid}&mode=test",
    ]
    assert len(lines) == 6


def test_admin_lists_deliveries_shows_the_url_and_replays(
    publisher: Any, make_project: Any, admin_client: Any
) -> None:
    post(url(publisher), order_json(skus=(("LATER", 1, "Later"),)))
    (delivery,) = process_pending()
    assert admin_client.get("/admin/carts/inbounddelivery/").status_code == 200
    assert (
        admin_client.get(f"/admin/carts/inbounddelivery/{delivery.id}/change/").status_code == 200
    )
    page = admin_client.get(f"/admin/accounts/publisher/{publisher.id}/change/").content.decode()
    # The URL is shown with its token masked: the publisher copies it from the dashboard.
    assert f"idpub={publisher.id}&amp;token={hint(publisher.cart_token)}" in page
    assert publisher.cart_token not in page
    make_project(publisher, title="Later", ecommerce_ids="{LATER}")
    admin_client.post(
        "/admin/carts/inbounddelivery/",
        {"action": "replay", "_selected_action": [delivery.id]},
    )
    delivery.refresh_from_db()
    assert delivery.outcome == Outcome.PENDING
    admin_client.post(
        "/admin/accounts/publisher/",
        {"action": "rotate_cart_token", "_selected_action": [publisher.id]},
    )
    old = publisher.cart_token
    publisher.refresh_from_db()
    assert publisher.cart_token != old


@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_of_one_order_make_exactly_one(
    make_publisher: Any, make_project: Any
) -> None:
    skip_unless_threads_share_the_database()
    publisher = make_publisher(balance="100")
    publisher.shopify_topics = "orders/paid,orders/fulfilled,orders/create"
    publisher.save()
    make_project(publisher, title="CD", ecommerce_ids="{VTD234-100}")
    errors: list[BaseException] = []
    barrier = threading.Barrier(10)

    def deliver(index: int) -> None:
        try:
            response = post(url(publisher), **shopify_headers(webhook_id=f"c-{index}"))
            assert response.status_code == 200
            delivery = InboundDelivery.objects.get(delivery_id=f"c-{index}")
            barrier.wait(timeout=30)
            delivery_process(delivery_id=delivery.id)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    outcomes = list(InboundDelivery.objects.values_list("outcome", "reason"))
    assert Order.objects.count() == 1, outcomes
    outcomes = sorted(InboundDelivery.objects.values_list("outcome", flat=True))
    assert outcomes == [Outcome.DUPLICATE] * 9 + [Outcome.ORDER_CREATED]


def test_an_absurd_quantity_is_reported_as_invalid_and_the_other_lines_are_ordered(
    publisher: Any, cd: Any, make_project: Any
) -> None:
    dvd = make_project(publisher, title="Live DVD", ecommerce_ids="{DVD-1}")
    body = order_json(skus=(("VTD234-100", 7777, "Greatest Hits CD"), ("DVD-1", 2, "Live DVD")))
    body = body.replace(b'"quantity": 7777', b'"quantity": 1e308')
    assert post(url(publisher), body).status_code == 200
    (delivery,) = process_pending()
    order = Order.objects.get()
    assert [(line.project_id, line.quantity) for line in order.lines.all()] == [(dvd.id, 2)]
    assert (delivery.outcome, delivery.reason) == (
        Outcome.ORDER_CREATED,
        f"Order {order.id}. Skipped lines: invalid quantity (not a whole number of copies): "
        "SKU 'VTD234-100' (Greatest Hits CD) quantity '1e+308'",
    )


@pytest.mark.parametrize(
    ("raw", "shown"), [(b"1e308", "1e+308"), (b"1e3", "1000.0"), (b"2.5", "2.5")]
)
def test_an_order_whose_only_line_has_an_invalid_quantity_fails_and_makes_nothing(
    publisher: Any, cd: Any, raw: bytes, shown: str
) -> None:
    body = order_json(skus=(("VTD234-100", 7777, "Greatest Hits CD"),))
    body = body.replace(b'"quantity": 7777', b'"quantity": ' + raw)
    assert post(url(publisher), body).status_code == 200
    (delivery,) = process_pending()
    assert (delivery.outcome, delivery.reason) == (
        Outcome.FAILED,
        "No line can be ordered: invalid quantity (not a whole number of copies): SKU "
        f"'VTD234-100' (Greatest Hits CD) quantity '{shown}'",
    )
    assert not Order.objects.exists()
    publisher.refresh_from_db()
    assert publisher.balance == 100


def test_a_quantity_of_400_nines_is_invalid_not_below_one(publisher: Any, cd: Any) -> None:
    body = order_json(skus=(("VTD234-100", 7777, "Greatest Hits CD"),))
    body = body.replace(b'"quantity": 7777', b'"quantity": ' + b"9" * 400)
    post(url(publisher), body)
    (delivery,) = process_pending()
    assert delivery.outcome == Outcome.FAILED
    assert "invalid quantity" in delivery.reason
    assert "below 1" not in delivery.reason
    assert not Order.objects.exists()


def test_two_stores_each_sending_their_own_1040_make_two_orders(publisher: Any, cd: Any) -> None:
    # One publisher, one store per artist: each store numbers its orders from #1001.
    stores = [
        ("artist-a.myshopify.com", "5150000000001", "hook-a"),
        ("artist-b.myshopify.com", "5150000000002", "hook-b"),
    ]
    for shop, order_id, webhook_id in stores:
        body = order_json(order_id=order_id, name="#1040")
        response = post(url(publisher), body, **shopify_headers(shop=shop, webhook_id=webhook_id))
        assert response.status_code == 200
    assert [d.outcome for d in process_pending()] == [Outcome.ORDER_CREATED] * 2
    orders = Order.objects.order_by("id")
    assert [(o.invoice, o.store, o.external_ref) for o in orders] == [
        ("#1040@artist-a", "artist-a.myshopify.com", "5150000000001"),
        ("#1040@artist-b", "artist-b.myshopify.com", "5150000000002"),
    ]
    publisher.refresh_from_db()
    assert publisher.balance == 100 - sum(o.total_cost for o in orders)

    # The same order from the same store again (a second subscription, a new webhook id)
    # still makes one order; so does the same order id from the same store under a new name.
    again = order_json(order_id="5150000000001", name="#1040")
    post(url(publisher), again, **shopify_headers(shop="artist-a.myshopify.com", webhook_id="x1"))
    renamed = order_json(order_id="5150000000001", name="#1040-renamed")
    post(
        url(publisher), renamed, **shopify_headers(shop="ARTIST-A.myshopify.com ", webhook_id="x2")
    )
    assert [d.outcome for d in process_pending()] == [Outcome.DUPLICATE] * 2
    assert Order.objects.count() == 2


def test_the_same_name_from_the_same_store_with_another_id_is_a_duplicate_invoice(
    publisher: Any, cd: Any
) -> None:
    # Shopify never reuses a name within a shop; if an import did, intake's invoice rule
    # would still keep one order per (shop, name).
    post(url(publisher), order_json(order_id="1", name="#7"), **shopify_headers(webhook_id="a"))
    post(url(publisher), order_json(order_id="2", name="#7"), **shopify_headers(webhook_id="b"))
    first, second = process_pending()
    assert (first.outcome, second.outcome) == (Outcome.ORDER_CREATED, Outcome.DUPLICATE)
    assert Order.objects.get().invoice == "#7@press-demo"


class TestTheSpecsUrlWithoutToken:
    """`/carts/shopify?idpub=…` alone, as the spec prints it: the HMAC proves the sender."""

    NO_KEY = (
        b"This URL has no token and no Shopify webhook signing key is saved, so the sender "
        b"cannot be checked. Save Shopify's signing key in Settings > Cart credentials, or use "
        b"the URL with the token shown on the Integrations page.\n"
    )

    @staticmethod
    def spec_url(publisher: Any, extra: str = "") -> str:
        return f"/carts/shopify?idpub={publisher.id}{extra}"

    def test_is_refused_clearly_when_no_signing_key_is_saved(self, publisher: Any, cd: Any) -> None:
        body = order_json()
        signed = shopify_headers(signature=shopify_signature(key=SIGNING_KEY, body=body))
        response = post(self.spec_url(publisher), body, **signed)
        assert (response.status_code, response.content) == (401, self.NO_KEY)
        assert InboundDelivery.objects.count() == 0
        assert DBTaskResult.objects.count() == 0

    def test_is_accepted_with_the_saved_keys_signature_and_makes_the_order(
        self, publisher: Any, cd: Any
    ) -> None:
        publisher_set_cart_credentials(publisher=publisher, shopify_webhook_key=SIGNING_KEY)
        body = order_json()
        signed = shopify_headers(signature=shopify_signature(key=SIGNING_KEY, body=body))
        response = post(self.spec_url(publisher, "&mode=test"), body, **signed)
        delivery = InboundDelivery.objects.get()
        assert (response.status_code, response.content) == (200, f"ok {delivery.id}\n".encode())
        assert (delivery.outcome, delivery.test_requested) == (Outcome.PENDING, True)
        assert delivery.external_key == f"{SHOP}:{BIG_ORDER_ID}"
        assert process_delivery.call(delivery_id=delivery.id) == Outcome.ORDER_CREATED
        order = Order.objects.get()
        assert (order.mode, order.invoice, order.store) == ("test", "#1001@press-demo", SHOP)

    @pytest.mark.parametrize(
        ("signature", "answer"),
        [
            (None, b"Signature missing.\n"),
            ("", b"Signature missing.\n"),
            ("AAAA" + "=" * 40, b"Signature does not match.\n"),
            ("other-key", b"Signature does not match.\n"),
        ],
    )
    def test_a_missing_or_wrong_signature_is_401_and_nothing_is_stored(
        self, publisher: Any, cd: Any, signature: str | None, answer: bytes
    ) -> None:
        publisher_set_cart_credentials(publisher=publisher, shopify_webhook_key=SIGNING_KEY)
        body = order_json()
        if signature == "other-key":
            signature = shopify_signature(key="shpss_someone_elses_key", body=body)
        response = post(self.spec_url(publisher), body, **shopify_headers(signature=signature))
        assert (response.status_code, response.content) == (401, answer)
        # Nothing says who sent it: nothing is kept, nothing is queued.
        assert InboundDelivery.objects.count() == 0
        assert DBTaskResult.objects.count() == 0
        assert Order.objects.count() == 0

    def test_a_signature_over_other_bytes_is_refused(self, publisher: Any, cd: Any) -> None:
        publisher_set_cart_credentials(publisher=publisher, shopify_webhook_key=SIGNING_KEY)
        signature = shopify_signature(key=SIGNING_KEY, body=order_json(name="#9999"))
        response = post(
            self.spec_url(publisher), order_json(), **shopify_headers(signature=signature)
        )
        assert response.status_code == 401
        assert InboundDelivery.objects.count() == 0

    def test_a_body_over_1_mb_is_413_and_not_kept(self, publisher: Any) -> None:
        publisher_set_cart_credentials(publisher=publisher, shopify_webhook_key=SIGNING_KEY)
        body = b'{"id": 1, "note": "' + b"x" * 1_000_001 + b'"}'
        signed = shopify_headers(signature=shopify_signature(key=SIGNING_KEY, body=body))
        assert post(self.spec_url(publisher), body, **signed).status_code == 413
        assert InboundDelivery.objects.count() == 0

    def test_an_inactive_publisher_is_refused_even_with_a_good_signature(
        self, publisher: Any, cd: Any
    ) -> None:
        publisher_set_cart_credentials(publisher=publisher, shopify_webhook_key=SIGNING_KEY)
        publisher.is_active = False
        publisher.save()
        body = order_json()
        signed = shopify_headers(signature=shopify_signature(key=SIGNING_KEY, body=body))
        response = post(self.spec_url(publisher), body, **signed)
        assert (response.status_code, response.content) == (
            401,
            b"Unknown publisher or wrong token.\n",
        )
        assert InboundDelivery.objects.count() == 0

    def test_a_given_token_must_still_be_right(self, publisher: Any, cd: Any) -> None:
        publisher_set_cart_credentials(publisher=publisher, shopify_webhook_key=SIGNING_KEY)
        body = order_json()
        signed = shopify_headers(signature=shopify_signature(key=SIGNING_KEY, body=body))
        wrong = url(publisher, token=publisher.cart_token + "x")
        assert post(wrong, body, **signed).status_code == 401
        assert post(url(publisher), body, **signed).status_code == 200
        assert InboundDelivery.objects.count() == 1
