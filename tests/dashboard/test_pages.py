"""The dashboard pages with the Django test client: exact numbers, saved settings, the test
order, the payment preview and the mapping of unmatched cart products."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from pressrun.accounts.models import Publisher
from pressrun.accounts.services import publisher_set_cart_credentials
from pressrun.billing.models import LedgerEntry
from pressrun.billing.services import ledger_credit
from pressrun.carts.models import InboundDelivery, Outcome, UnmatchedProduct
from pressrun.catalog.models import Project
from pressrun.core.sealed import unseal
from pressrun.orders.models import Order, OrderStatus
from tests.dashboard.pages import text
from tests.fulfillment.support import flag_address

pytestmark = pytest.mark.django_db


def test_every_page_renders_for_a_new_account(signed_in: Client) -> None:
    for path in ("/home", "/settings", "/settings/password", "/billing", "/integrations"):
        response = signed_in.get(path)
        assert response.status_code == 200, path
        assert response["Cache-Control"] == "no-store, private"


def test_home_numbers_problems_and_chart(
    signed_in: Client,
    publisher: Publisher,
    make_project: Callable[..., Any],
    place_order: Callable[..., Any],
) -> None:
    project = make_project(publisher)
    # $6.00 pays the order that will stop for its address; $5.00 is left.
    ledger_credit(publisher_id=publisher.id, amount=Decimal("11.00"), description="", actor="t")
    errored = place_order(publisher, project)
    first, second = place_order(publisher, project), place_order(publisher, project)
    assert [errored.status, first.status, second.status] == ["PROCESSING", "HOLD", "HOLD"]
    assert first.total_cost == Decimal("6.00")  # $4.50 + $1.50 letter postage
    place_order(publisher, project, mode="test")  # not in the production chart
    flag_address(errored, "No such street")
    UnmatchedProduct.objects.create(
        publisher=publisher,
        cart="shopify",
        product_ref="TSHIRT-L",
        title="T-shirt",
        first_seen_at=timezone.now(),
        last_seen_at=timezone.now(),
    )
    InboundDelivery.objects.create(
        cart="samcart",
        publisher=publisher,
        received_at=timezone.now(),
        body=b"{}",
        outcome=Outcome.FAILED,
        reason="Body is not JSON.",
    )

    page = text(signed_in.get("/home"))
    assert "Balance $5.00" in page
    assert "Orders on HOLD 2 They cost $12.00. A payment of $7.00 releases all of them." in page
    assert "Needs attention 3" in page
    assert "Shopify product TSHIRT-L “T-shirt”, seen 1 time." in page
    assert "SamCart delivery" in page
    assert "Body is not JSON." in page
    assert f"Order {errored.id} (invoice {errored.invoice}) for Ada Customer: No such street" in (
        page
    )
    today = timezone.now().date()
    first_day = today - timedelta(days=29)
    assert f"3 production orders from {first_day:%b %d} to {today:%b %d}; busiest day 3." in page
    markup = signed_in.get("/home").content.decode()
    bars = re.findall(r'<rect class="bar" [^>]*height="([\d.]+)"><title>([^<]+)</title>', markup)
    assert len(bars) == 30
    assert bars[-1] == ("128.0", f"{today:%b %d}: 3 orders")
    assert bars[0] == ("0.0", f"{first_day:%b %d}: 0 orders")


def test_home_of_another_publisher_shows_none_of_these(
    publisher: Publisher,
    make_publisher: Callable[..., Any],
    make_project: Callable[..., Any],
    place_order: Callable[..., Any],
    client_for: Callable[..., Client],
) -> None:
    order = place_order(publisher, make_project(publisher), name="Zebulon Owner-Only")
    other = make_publisher()
    page = text(client_for(other).get("/home"))
    assert "Zebulon Owner-Only" not in page
    assert "Orders on HOLD 0" in page
    assert str(order.invoice) not in page


def test_settings_are_saved_through_the_service(signed_in: Client, publisher: Publisher) -> None:
    response = signed_in.post(
        "/settings",
        {
            "company": "  Harbor   Lights ",
            "default_mail_method": "express",
            "customer_address_changes": "on",
            "postage_delay_hours": "0",
            "error_email": "Ops@Harbor.example",
            "customer_contact_email": "Help@Harbor.example",
            "shopify_topics": ["orders/paid", "orders/fulfilled"],
        },
    )
    assert response["Location"] == "/settings"
    publisher.refresh_from_db()
    assert publisher.company == "Harbor Lights"
    assert publisher.default_mail_method == "express"
    assert publisher.customer_email_notifications is False
    assert publisher.customer_address_changes is True
    assert publisher.postage_delay_hours == 0
    assert publisher.error_email == "ops@harbor.example"
    assert publisher.customer_contact_email == "help@harbor.example"
    assert publisher.customer_contact == "help@harbor.example"
    assert publisher.shopify_topics == "orders/fulfilled,orders/paid"
    assert "Your settings are saved." in text(signed_in.get("/settings"))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("postage_delay_hours", "169", "Ensure this value is less than or equal to 168."),
        ("postage_delay_hours", "-1", "Ensure this value is greater than or equal to 0."),
        ("default_mail_method", "pigeon", "Select a valid choice. pigeon is not one of"),
        ("error_email", "not-an-email", "Enter a valid email address."),
        ("customer_contact_email", "help@", "Enter a valid email address."),
        ("shopify_topics", "orders/cancelled", "Select a valid choice. orders/cancelled"),
    ],
)
def test_refused_settings_change_nothing(
    signed_in: Client, publisher: Publisher, field: str, value: str, message: str
) -> None:
    valid = {
        "company": "Changed",
        "default_mail_method": "standard",
        "postage_delay_hours": "12",
        "shopify_topics": ["orders/fulfilled"],
    }
    before = Publisher.objects.filter(id=publisher.id).values().get()
    response = signed_in.post("/settings", {**valid, field: value})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert Publisher.objects.filter(id=publisher.id).values().get() == before


def test_no_shopify_topic_is_refused(signed_in: Client, publisher: Publisher) -> None:
    response = signed_in.post(
        "/settings", {"company": "X", "default_mail_method": "standard", "postage_delay_hours": 1}
    )
    assert response.status_code == 400
    assert "Choose at least one Shopify event." in response.content.decode()
    assert Publisher.objects.get(id=publisher.id).company == "Owner Records"


def test_cart_credentials_are_sealed_and_shown_only_as_a_hint(
    signed_in: Client, publisher: Publisher
) -> None:
    api_key = "3B2EA25FBE9B4E31915F3CEDD74E8E78"
    response = signed_in.post(
        "/settings/carts",
        {
            "oneshoppingcart_merchant_id": "123456",
            "oneshoppingcart_api_key": api_key,
            "shopify_webhook_key": "shpss_0123456789abcdef",
        },
    )
    assert response["Location"] == "/settings#carts"
    publisher.refresh_from_db()
    assert publisher.oneshoppingcart_merchant_id == "123456"
    assert api_key not in publisher.oneshoppingcart_api_key_sealed
    assert unseal(publisher.oneshoppingcart_api_key_sealed) == api_key
    assert publisher.shopify_webhook_key == "shpss_0123456789abcdef"
    markup = signed_in.get("/settings").content.decode()
    assert api_key not in markup
    assert "shpss_0123456789abcdef" not in markup
    assert "••••••••8E78" in markup
    assert "••••••••cdef" in markup

    # Blank keeps a saved key; "remove" clears it.
    signed_in.post(
        "/settings/carts",
        {"oneshoppingcart_merchant_id": "123456", "clear_shopify_webhook_key": "on"},
    )
    publisher.refresh_from_db()
    assert unseal(publisher.oneshoppingcart_api_key_sealed) == api_key
    assert publisher.shopify_webhook_key == ""


def test_bad_cart_credentials_are_refused(signed_in: Client, publisher: Publisher) -> None:
    response = signed_in.post(
        "/settings/carts", {"oneshoppingcart_merchant_id": "12 34", "oneshoppingcart_api_key": "k"}
    )
    assert response.status_code == 400
    assert "Use only the letters, digits, - and _ of the merchant ID." in (
        response.content.decode()
    )
    publisher.refresh_from_db()
    assert publisher.oneshoppingcart_merchant_id == ""
    assert publisher.oneshoppingcart_api_key_sealed == ""


def test_cart_token_rotation_needs_a_post(signed_in: Client, publisher: Publisher) -> None:
    old = publisher.cart_token
    assert signed_in.get("/settings/cart-token").status_code == 405
    assert Publisher.objects.get(id=publisher.id).cart_token == old
    response = signed_in.post("/settings/cart-token")
    assert response["Location"] == "/integrations"
    new = Publisher.objects.get(id=publisher.id).cart_token
    assert new != old
    page = signed_in.get("/integrations").content.decode()
    assert f"idpub={publisher.id}&amp;token={new}" in page
    assert old not in page


def shown_urls(page: str) -> dict[str, str]:
    """The URLs the Integrations page shows, by their data-testid."""
    return {
        name: html.unescape(url)
        for name, url in re.findall(r'<code data-testid="([a-z-]+-url)">([^<]*)</code>', page)
    }


def test_integrations_show_this_publishers_urls(signed_in: Client, publisher: Publisher) -> None:
    page = signed_in.get("/integrations").content.decode()
    token = publisher.cart_token
    base = "http://127.0.0.1:8000"
    assert shown_urls(page) == {
        "gateway-order-url": f"{base}/gateway/order",
        "gateway-status-url": f"{base}/gateway/status",
        # No signing key saved yet: the Shopify URL carries the token.
        "shopify-url": f"{base}/carts/shopify?idpub={publisher.id}&token={token}",
        "samcart-url": f"{base}/carts/samcart?idpub={publisher.id}&token={token}",
        # The spec's 1ShoppingCart URL: no token.
        "oneshoppingcart-url": f"{base}/carts/1shoppingcart?TSMode=prod&TSPub={publisher.id}"
        "&TSErrEM=owner%40example.com",
    }
    for url in (
        f"{base}/carts/shopify?idpub={publisher.id}&amp;token={token}&amp;mode=test",
        f"{base}/carts/1shoppingcart?TSMode=test&amp;TSPub={publisher.id}"
        "&amp;TSErrEM=owner%40example.com",
        # What works once the signing key is saved.
        f"<code>{base}/carts/shopify?idpub={publisher.id}</code>",
    ):
        assert url in page, url
    assert f"1shoppingcart?TSMode=test&amp;TSPub={publisher.id}&amp;token" not in page


def test_with_a_signing_key_saved_the_shopify_url_is_the_specs(
    signed_in: Client, publisher: Publisher
) -> None:
    publisher_set_cart_credentials(publisher=publisher, shopify_webhook_key="shpss_0123456789")
    page = signed_in.get("/integrations").content.decode()
    base = "http://127.0.0.1:8000"
    assert shown_urls(page)["shopify-url"] == f"{base}/carts/shopify?idpub={publisher.id}"
    assert f"{base}/carts/shopify?idpub={publisher.id}&amp;mode=test" in page
    assert "No token needed: every request must carry Shopify's signature" in page
    assert publisher.cart_token not in page.split('id="samcart"')[0]


def test_a_test_order_goes_through_intake_and_costs_nothing(
    signed_in: Client, publisher: Publisher, make_project: Callable[..., Any]
) -> None:
    project = make_project(publisher)
    response = signed_in.post("/integrations/test-order", follow=True)
    order = Order.objects.get(publisher=publisher)
    assert (order.mode, order.status, order.source) == ("test", OrderStatus.TEST, "dashboard")
    assert order.total_cost == Decimal("6.00")
    assert order.charged_at is None
    assert [(line.project_id, line.quantity) for line in order.lines.all()] == [(project.id, 1)]
    assert re.fullmatch(r"TEST-[0-9A-F]{8}", order.invoice)
    assert (
        f"Test order {order.id} placed (invoice {order.invoice}, 1 x project {project.id}): "
        "status TEST, it would cost $6.00. Test orders are never billed or produced."
    ) in text(response)
    assert LedgerEntry.objects.filter(publisher=publisher).count() == 0


def test_a_test_order_without_a_project_is_explained(
    signed_in: Client, publisher: Publisher
) -> None:
    response = signed_in.post("/integrations/test-order", follow=True)
    assert "Create a project first: a test order needs one to order." in text(response)
    assert Order.objects.count() == 0


def test_billing_ledger_holds_and_payment_preview(
    signed_in: Client,
    publisher: Publisher,
    make_project: Callable[..., Any],
    place_order: Callable[..., Any],
) -> None:
    project = make_project(publisher)
    ledger_credit(publisher_id=publisher.id, amount=Decimal("7.00"), description="", actor="t")
    paid = place_order(publisher, project)  # $6.00, paid: $1.00 left
    big = place_order(publisher, project, quantity=2)  # $14.25, HOLD
    small = place_order(publisher, project)  # $6.00, HOLD
    assert (paid.status, big.status, small.status) == ("PROCESSING", "HOLD", "HOLD")
    page = text(signed_in.get("/billing"))
    assert "Balance $1.00" in page
    assert "Paid in $7.00" in page
    assert "Charged -$6.00" in page
    assert (
        "2 orders wait for payment, $20.25 in all. A payment of $19.25 releases every one." in page
    )
    assert f"{big.id} {big.invoice} Ada Customer" in page
    assert "$14.25 $13.25" in page  # the big order alone needs $13.25 more
    assert "$6.00 $19.25" in page
    # $5.00 more cannot pay the big order but pays the small, later one.
    preview = text(signed_in.get("/billing?payment=5"))
    assert f"A payment of $5.00 would release 1 order ($6.00): {small.id}." in preview
    partial = signed_in.get("/billing?payment=19.25", headers={"HX-Request": "true"})
    assert "<html" not in partial.content.decode()
    assert f"A payment of $19.25 would release 2 orders ($20.25): {big.id}, {small.id}." in text(
        partial
    )
    refused = text(signed_in.get("/billing?payment=-3"))
    assert "'-3' is not an amount: use digits with an optional point" in refused
    assert "Enter at least $0.01." in text(signed_in.get("/billing?payment=0"))
    assert "'1e3' is not an amount" in text(signed_in.get("/billing?payment=1e3"))
    # The preview changes nothing.
    assert Order.objects.filter(status="HOLD").count() == 2


def test_the_ledger_is_paginated(signed_in: Client, publisher: Publisher) -> None:
    for number in range(27):
        ledger_credit(
            publisher_id=publisher.id,
            amount=Decimal("1.00"),
            description=f"payment {number}",
            actor="t",
        )
    first = text(signed_in.get("/billing"))
    assert "Page 1 of 2" in first
    assert "payment 26" in first
    assert "payment 1 " not in first
    second = text(signed_in.get("/billing?page=2"))
    assert "payment 1 " in second
    assert "payment 0 " in second
    assert "payment 26" not in second
    assert signed_in.get("/billing?page=abc").status_code == 200


def test_map_an_unmatched_product_to_a_project(
    signed_in: Client, publisher: Publisher, make_project: Callable[..., Any]
) -> None:
    project = make_project(publisher, title="Bonus Disc")
    product = UnmatchedProduct.objects.create(
        publisher=publisher,
        cart="shopify",
        product_ref="BONUS-1",
        first_seen_at=timezone.now(),
        last_seen_at=timezone.now(),
    )
    page = signed_in.get("/integrations").content.decode()
    assert f'action="/integrations/unmatched/{product.id}/map"' in page
    assert f'<option value="{project.id}">{project.id} Bonus Disc</option>' in page
    response = signed_in.post(
        f"/integrations/unmatched/{product.id}/map",
        {f"map-{product.id}-project": str(project.id)},
        follow=True,
    )
    assert (
        f"Shopify product 'BONUS-1' now orders project {project.id} (Bonus Disc). 0 kept "
        "deliveries queued to be processed again."
    ) in text(response)
    assert Project.objects.get(id=project.id).ecommerce_ids == "<BONUS-1>"


def test_integrations_list_this_publishers_last_deliveries(
    signed_in: Client,
    publisher: Publisher,
    make_publisher: Callable[..., Any],
    make_project: Callable[..., Any],
    place_order: Callable[..., Any],
) -> None:
    order = place_order(publisher, make_project(publisher))
    now = timezone.now()
    created = InboundDelivery.objects.create(
        cart="shopify",
        publisher=publisher,
        received_at=now - timedelta(minutes=2),
        body=b"{}",
        topic="orders/paid",
        outcome=Outcome.ORDER_CREATED,
    )
    created.orders.add(order)
    InboundDelivery.objects.create(
        cart="samcart",
        publisher=publisher,
        received_at=now - timedelta(minutes=1),
        body=b"{}",
        test_requested=True,
        outcome=Outcome.UNMATCHED,
        reason="No line named one of your projects: SamCart product 4711 (Bonus <b>Disc</b>).",
    )
    other = make_publisher(email="other@example.com")
    InboundDelivery.objects.create(
        cart="shopify",
        publisher=other,
        received_at=now,
        body=b"{}",
        outcome=Outcome.FAILED,
        reason="someone else's delivery",
    )
    response = signed_in.get("/integrations")
    rows = re.findall(
        r"<tr>(.*?)</tr>",
        response.content.decode().split('data-testid="deliveries"')[1].split("</table>")[0],
        re.S,
    )[1:]
    cells = [
        [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", cell)).split()) for cell in row_cells]
        for row_cells in (re.findall(r"<td>(.*?)</td>", row, re.S) for row in rows)
    ]
    assert [row[2:] for row in cells] == [
        [
            "SamCart (test)",
            "",
            "Unmatched (no line matches a project)",
            "",
            "No line named one of your projects: SamCart product 4711 (Bonus <b>Disc</b>).",
        ],
        ["Shopify", "orders/paid", "Order created", str(order.id), ""],
    ]
    assert f'<a href="/orders/{order.id}">{order.id}</a>' in response.content.decode()
    assert "Bonus &lt;b&gt;Disc&lt;/b&gt;" in response.content.decode()
    assert "someone else" not in response.content.decode()


def test_billing_shows_status_call_charges(
    signed_in: Client, publisher: Publisher, settings: Any
) -> None:
    from pressrun.billing.services import status_call_record

    settings.STATUS_CALLS_FREE_PER_DAY = 2
    ledger_credit(publisher_id=publisher.id, amount=Decimal("1.00"), description="", actor="t")
    charged = [status_call_record(publisher_id=publisher.id) for _ in range(5)]
    assert charged == [False, False, True, True, True]
    response = signed_in.get("/billing")
    page = text(response)
    assert "Balance $0.97" in page
    assert (
        'Status calls: <span data-testid="status-call-charges">-$0.03</span>'
        in response.content.decode()
    )
    assert "getOrderStatusByInvoice call 5 in 24 hours" in page


def test_the_integrations_page_reads_the_projects_once_for_every_unmatched_product(
    signed_in: Client,
    publisher: Publisher,
    make_project: Callable[..., Any],
    django_assert_max_num_queries: Any,
) -> None:
    def add_products(count: int) -> None:
        for _ in range(count):
            n = UnmatchedProduct.objects.count()
            UnmatchedProduct.objects.create(
                publisher=publisher,
                cart="shopify",
                product_ref=f"SKU-{n}",
                first_seen_at=timezone.now(),
                last_seen_at=timezone.now(),
            )

    make_project(publisher, title="Bonus Disc")
    add_products(1)
    signed_in.get("/integrations")  # the session is warm
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as one:
        signed_in.get("/integrations")
    add_products(9)
    with django_assert_max_num_queries(len(one.captured_queries)):
        page = signed_in.get("/integrations").content.decode()
    assert page.count("Bonus Disc</option>") == 10
