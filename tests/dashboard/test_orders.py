"""Dashboard Orders: the list with filters, search and pages, the CSV export, an order's
detail, changing and deleting HOLD and test orders (and refusing every other), and the manual
order through intake."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from pressrun.accounts.models import Publisher
from pressrun.billing.services import order_pay_from_balance
from pressrun.carts.models import InboundDelivery, Outcome
from pressrun.fulfillment.services import fulfillment_move
from pressrun.orders.models import (
    Order,
    OrderDeletion,
    OrderEvent,
    OrderLine,
    OrderStatus,
    Source,
)
from tests.dashboard.pages import ESCAPED, SCRIPT, text
from tests.fulfillment.support import flag_address, ship, today

pytestmark = pytest.mark.django_db


def listed_ids(response: Any) -> list[int]:
    """The order numbers in the list's table, top to bottom."""
    table = response.content.decode().split('data-testid="orders"')[1].split("</table>")[0]
    return [int(number) for number in re.findall(r'href="/orders/(\d+)"', table)]


def snapshot(order_id: int) -> dict[str, Any]:
    """Everything stored about an order, to prove a refusal wrote nothing."""
    return {
        "order": Order.objects.filter(id=order_id).values().first(),
        "lines": list(OrderLine.objects.filter(order_id=order_id).values()),
        "events": list(OrderEvent.objects.filter(order_id=order_id).values()),
    }


def placed_at(order: Order, when: datetime) -> Order:
    Order.objects.filter(id=order.id).update(created_at=when)
    order.refresh_from_db()
    return order


@pytest.fixture
def cd(publisher: Publisher, make_project: Callable[..., Any]) -> Any:
    return make_project(publisher, title="Greatest Hits")


MODIFY = {
    "name": "Ann  Buyer",
    "company": "",
    "address": "9 Ocean Ave",
    "city": "Santa Monica",
    "state": "california",
    "postal_code": "90401",
    "country": "United States",
    "email": "ann@example.com",
    "mail_method": "priority",
}


# The list


def test_list_filters_and_searches_only_my_orders(
    *,
    signed_in: Client,
    publisher: Publisher,
    cd: Any,
    make_publisher: Callable[..., Any],
    make_project: Callable[..., Any],
    place_order: Callable[..., Any],
) -> None:
    hold = place_order(publisher, cd, name="Ada Lovelace", email="ada@example.com")
    test = place_order(publisher, cd, mode="test", name="Tess Tester")
    shipped = place_order(publisher, cd, name="Sam Shipped")
    Publisher.objects.filter(id=publisher.id).update(balance=Decimal("100"))
    order_pay_from_balance(order_id=shipped.id, actor="op")
    ship(shipped, tracking_id="EZ9999US")
    Order.objects.filter(id=test.id).update(source=Source.SHOPIFY)
    placed_at(hold, datetime(2026, 1, 2, 23, 59, tzinfo=UTC))
    placed_at(test, datetime(2026, 1, 3, 0, 0, tzinfo=UTC))
    placed_at(shipped, datetime(2026, 1, 4, 12, 0, tzinfo=UTC))
    other = make_publisher()
    theirs = place_order(other, make_project(other), name="Ada Lovelace", email="ada@example.com")

    def ids(**query: str) -> list[int]:
        response = signed_in.get("/orders", query)
        assert response.status_code == 200, query
        return listed_ids(response)

    assert ids() == [shipped.id, test.id, hold.id]
    assert ids(mode="test") == [test.id]
    assert ids(mode="prod") == [shipped.id, hold.id]
    assert ids(status="HOLD") == [hold.id]
    assert ids(status="SHIPPED") == [shipped.id]
    assert ids(source="shopify") == [test.id]
    assert ids(source="gateway") == [shipped.id, hold.id]
    assert ids(placed_from="2026-01-03") == [shipped.id, test.id]
    assert ids(placed_to="2026-01-03") == [test.id, hold.id]
    assert ids(placed_from="2026-01-03", placed_to="2026-01-03") == [test.id]
    assert ids(q="lovelace") == [hold.id]
    assert ids(q="ADA@EXAMPLE") == [hold.id]
    assert ids(q=hold.invoice) == [hold.id]
    assert ids(q="z999") == [shipped.id]
    assert ids(q=str(test.id)) == [test.id]
    assert ids(q="nobody") == []
    assert ids(mode="prod", status="HOLD", q="ada") == [hold.id]
    assert theirs.id not in ids(q=str(theirs.id))
    page = text(signed_in.get("/orders", {"q": "nobody"}))
    assert "0 orders match." in page
    assert "No order matches these filters." in page


def test_invalid_filters_are_explained_and_ignored(
    signed_in: Client, publisher: Publisher, cd: Any, place_order: Callable[..., Any]
) -> None:
    order = place_order(publisher, cd)
    response = signed_in.get(
        "/orders", {"placed_from": "2026-02-10", "placed_to": "2026-02-01", "status": "LOST"}
    )
    assert response.status_code == 400
    page = text(response)
    assert "The last day is before the first day." in page
    assert "Select a valid choice. LOST is not one of the available choices." in page
    assert listed_ids(response) == [order.id]
    # The valid filters still apply.
    response = signed_in.get("/orders", {"placed_from": "yesterday", "mode": "test"})
    assert response.status_code == 400
    assert "Enter a valid date." in text(response)
    assert listed_ids(response) == []


def test_list_pages_keep_the_filters(
    signed_in: Client, publisher: Publisher, cd: Any, place_order: Callable[..., Any]
) -> None:
    orders = [place_order(publisher, cd, mode="test") for _ in range(27)]
    place_order(publisher, cd)  # a production order, filtered out
    newest_first = [order.id for order in reversed(orders)]
    first = signed_in.get("/orders", {"mode": "test"})
    assert listed_ids(first) == newest_first[:25]
    assert "Page 1 of 2" in text(first)
    assert 'href="?mode=test&amp;page=2"' in first.content.decode()
    second = signed_in.get("/orders", {"mode": "test", "page": "2"})
    assert listed_ids(second) == newest_first[25:]
    assert listed_ids(signed_in.get("/orders", {"mode": "test", "page": "99"})) == newest_first[25:]


# CSV export


def csv_rows(response: Any) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


def test_export_streams_the_filtered_orders_as_csv(
    *,
    signed_in: Client,
    publisher: Publisher,
    cd: Any,
    make_project: Callable[..., Any],
    make_publisher: Callable[..., Any],
    place_order: Callable[..., Any],
) -> None:
    hold = place_order(
        publisher, cd, quantity=2, name="Ada Customer", email="ada@example.com", company="Acme"
    )
    placed_at(hold, datetime(2026, 3, 1, 9, 30, 15, tzinfo=UTC))
    place_order(publisher, cd, mode="test")
    other = make_publisher()
    place_order(other, make_project(other))
    response = signed_in.get("/orders/export.csv", {"mode": "prod"})
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(
        r'attachment; filename="orders-\d{8}-\d{6}\.csv"', response["Content-Disposition"]
    )
    assert response["Cache-Control"] == "no-store, private"
    assert csv_rows(response) == [
        [
            "order",
            "invoice",
            "mode",
            "status",
            "source",
            "store",
            "placed_utc",
            "name",
            "company",
            "email",
            "address",
            "city",
            "state",
            "postal_code",
            "country",
            "mail_method",
            "shipping_method",
            "products",
            "quantity",
            "products_cost",
            "shipping_cost",
            "total_cost",
            "ship_date",
            "tracking_id",
            "error",
        ],
        [
            str(hold.id),
            hold.invoice,
            "prod",
            "HOLD",
            "gateway",
            "",
            "2026-03-01 09:30:15",
            "Ada Customer",
            "Acme",
            "ada@example.com",
            "1 Main Street",
            "Springfield",
            "IL",
            "62701",
            "US",
            "standard",
            "standard+tracking",
            f"{cd.id}x2",
            "2",
            "9.00",
            "5.25",
            "14.25",
            "",
            "",
            "",
        ],
    ]


def test_export_guards_against_spreadsheet_formulas(
    signed_in: Client, publisher: Publisher, cd: Any, place_order: Callable[..., Any]
) -> None:
    order = place_order(publisher, cd, name="=HYPERLINK(1)", company="+1", city="@SUM(A1)")
    Order.objects.filter(id=order.id).update(address="-2+3", tracking_id="\tx")
    rows = csv_rows(signed_in.get("/orders/export.csv"))
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["name"] == "'=HYPERLINK(1)"
    assert row["company"] == "'+1"
    assert row["city"] == "'@SUM(A1)"
    assert row["address"] == "'-2+3"
    assert row["tracking_id"] == "'\tx"
    assert row["invoice"] == order.invoice  # ordinary text is left alone


def test_export_with_invalid_filters_goes_back_to_the_list(signed_in: Client) -> None:
    response = signed_in.get("/orders/export.csv", {"placed_from": "nope"})
    assert response.status_code == 302
    assert response["Location"] == "/orders?placed_from=nope"


def test_the_list_links_the_export_with_its_filters(signed_in: Client) -> None:
    page = signed_in.get("/orders", {"mode": "test", "q": "a&b"}).content.decode()
    assert 'href="/orders/export.csv?q=a%26b&amp;mode=test"' in page


# Detail


def test_detail_shows_lines_address_cost_history_delivery_and_tracking(
    signed_in: Client,
    publisher: Publisher,
    cd: Any,
    make_project: Callable[..., Any],
    place_order: Callable[..., Any],
) -> None:
    order = place_order(publisher, cd, quantity=2, company="Acme", email="ada@example.com")
    Publisher.objects.filter(id=publisher.id).update(balance=Decimal("50"))
    order_pay_from_balance(order_id=order.id, actor="operator")
    ship(order, tracking_id="9400 1118", carrier="USPS", service="USPS First Class Mail")
    delivery = InboundDelivery.objects.create(
        cart="shopify",
        publisher=publisher,
        received_at=timezone.now(),
        body=b"{}",
        topic="orders/fulfilled",
        outcome=Outcome.ORDER_CREATED,
    )
    delivery.orders.add(order)
    response = signed_in.get(f"/orders/{order.id}")
    assert response.status_code == 200
    page = text(response)
    assert f"Order {order.id} · invoice {order.invoice}" in page
    assert "Status SHIPPED Invoice" in page
    assert "Mail method Standard (letter rate where possible); ships standard + tracking" in page
    assert "Fulfillment Shipped Ship date " + f"{today():%Y-%m-%d}" in page
    assert "Carrier USPS Service USPS First Class Mail Tracking 9400 1118 (USPS)" in page
    assert (
        f"{cd.id} Greatest Hits 2 $4.50 $9.00 Products $9.00 Shipping $5.25 Total $14.25"
    ) in page
    assert "Ada Customer Acme 1 Main Street Springfield, IL 62701 United States" in page
    assert "Customer email: ada@example.com" in page
    assert "HOLD → PROCESSING Waiting (address window open)" in page
    assert "PROCESSING → PROCESSING Waiting (address window open) → Ready to make" in page
    assert "PROCESSING → SHIPPED Ready to make → Shipped" in page
    assert f"Shopify delivery {delivery.id} (orders/fulfilled)" in page
    assert (
        'href="https://tools.usps.com/go/TrackConfirmAction?tLabels=9400%201118"'
        in response.content.decode()
    )
    assert (
        f"Order {order.id} has shipped, so it can no longer be changed or deleted. Only HOLD "
        "orders can be changed, and HOLD and test orders deleted."
    ) in page
    assert f"/orders/{order.id}/modify" not in response.content.decode()
    assert f"/orders/{order.id}/delete" not in response.content.decode()


def test_a_hold_order_offers_modify_and_a_delete_that_asks_first(
    signed_in: Client, publisher: Publisher, cd: Any, place_order: Callable[..., Any]
) -> None:
    order = place_order(publisher, cd)
    response = signed_in.get(f"/orders/{order.id}")
    page = response.content.decode()
    assert f'href="/orders/{order.id}/modify"' in page
    assert '<details class="confirm" id="delete-order">' in page
    assert f'action="/orders/{order.id}/delete"' in page
    assert (
        f"Delete order {order.id} (invoice {order.invoice}) for Ada Customer? This cannot be "
        "undone."
    ) in text(response)
    assert "no cart delivery is kept for it" in text(response)


def test_another_publishers_order_is_404_everywhere_and_unchanged(
    signed_in: Client,
    make_publisher: Callable[..., Any],
    make_project: Callable[..., Any],
    place_order: Callable[..., Any],
) -> None:
    other = make_publisher()
    theirs = place_order(other, make_project(other))
    before = snapshot(theirs.id)
    assert signed_in.get(f"/orders/{theirs.id}").status_code == 404
    assert signed_in.get(f"/orders/{theirs.id}/modify").status_code == 404
    assert signed_in.post(f"/orders/{theirs.id}/modify", MODIFY).status_code == 404
    assert signed_in.post(f"/orders/{theirs.id}/delete").status_code == 404
    assert signed_in.get("/orders/999999999").status_code == 404
    assert snapshot(theirs.id) == before
    assert OrderDeletion.objects.count() == 0


# Modify


def test_modify_a_hold_order_reprices_it_and_records_one_event(
    signed_in: Client, publisher: Publisher, cd: Any, place_order: Callable[..., Any]
) -> None:
    order = place_order(publisher, cd)
    assert order.total_cost == Decimal("6.00")  # $4.50 + $1.50 letter
    line = OrderLine.objects.get(order=order)
    form = signed_in.get(f"/orders/{order.id}/modify")
    assert form.status_code == 200
    assert f'name="quantity_{line.id}"' in form.content.decode()
    assert f"Quantity of {cd.id} Greatest Hits" in text(form)
    response = signed_in.post(f"/orders/{order.id}/modify", {**MODIFY, f"quantity_{line.id}": "3"})
    assert response.status_code == 302
    assert response["Location"] == f"/orders/{order.id}"
    order.refresh_from_db()
    assert (order.name, order.address, order.city, order.state, order.postal_code) == (
        "Ann Buyer",
        "9 Ocean Ave",
        "Santa Monica",
        "CA",
        "90401",
    )
    assert (order.country, order.email, order.mail_method, order.shipping_method) == (
        "US",
        "ann@example.com",
        "priority",
        "priority",
    )
    # 3 x $4.50, priority $9.50 + 2 x $1.00
    assert (order.products_cost, order.shipping_cost, order.total_cost) == (
        Decimal("13.50"),
        Decimal("11.50"),
        Decimal("25.00"),
    )
    assert order.status == OrderStatus.HOLD
    assert OrderLine.objects.get(order=order).quantity == 3
    event = order.events.get(kind="modified")
    assert event.actor == f"dashboard ({publisher.email})"
    assert "total $6.00 → $25.00" in event.message
    detail = text(signed_in.get(f"/orders/{order.id}"))
    assert f"Order {order.id} is changed. It now costs $25.00 (was $6.00)." in detail


def test_modify_refusals_are_shown_and_nothing_is_written(
    signed_in: Client, publisher: Publisher, cd: Any, place_order: Callable[..., Any]
) -> None:
    order = place_order(publisher, cd)
    line = OrderLine.objects.get(order=order)
    before = snapshot(order.id)
    for data, message, status in (
        (
            {**MODIFY, f"quantity_{line.id}": "251"},
            "Ensure this value is less than or equal to 250.",
            400,
        ),
        ({**MODIFY, f"quantity_{line.id}": "0"}, "greater than or equal to 1", 400),
        ({**MODIFY, f"quantity_{line.id}": "1", "name": " "}, "This field is required.", 400),
        (
            {**MODIFY, f"quantity_{line.id}": "1", "country": "Atlantis"},
            "Atlantis",
            400,
        ),
        ({**MODIFY, f"quantity_{line.id}": "1", "mail_method": "pigeon"}, "pigeon", 400),
    ):
        response = signed_in.post(f"/orders/{order.id}/modify", data)
        assert response.status_code == status, data
        assert message in text(response), (message, text(response)[-1500:])
        assert snapshot(order.id) == before


def test_a_processing_order_cannot_be_modified_or_deleted(
    signed_in: Client, publisher: Publisher, cd: Any, place_order: Callable[..., Any]
) -> None:
    Publisher.objects.filter(id=publisher.id).update(balance=Decimal("20"))
    order = place_order(publisher, cd)
    assert order.status == OrderStatus.PROCESSING
    line = OrderLine.objects.get(order=order)
    before = snapshot(order.id)
    response = signed_in.get(f"/orders/{order.id}/modify")
    assert response.status_code == 409
    refusal = (
        f"Order {order.id} is paid and in production, so it can no longer be changed or "
        "deleted. Only HOLD orders can be changed, and HOLD and test orders deleted. Contact "
        "us if something must change."
    )
    assert refusal in text(response)
    assert '<form method="post" action="/orders/' not in response.content.decode()
    response = signed_in.post(f"/orders/{order.id}/modify", {**MODIFY, f"quantity_{line.id}": "2"})
    assert response.status_code == 409
    assert refusal in text(response)
    response = signed_in.post(f"/orders/{order.id}/delete", follow=True)
    assert response.redirect_chain == [(f"/orders/{order.id}", 302)]
    assert f"Order {order.id} is paid and in production, so it can no longer be deleted." in text(
        response
    )
    assert snapshot(order.id) == before
    assert OrderDeletion.objects.count() == 0


@pytest.mark.parametrize(
    ("status", "why"),
    [
        (OrderStatus.SHIPPED, "has shipped"),
        (OrderStatus.ERROR, "is held for an address problem that our staff is handling"),
        (OrderStatus.CANCELLED, "was cancelled and refunded"),
    ],
)
def test_a_shipped_error_or_cancelled_order_cannot_be_modified_or_deleted(
    *,
    signed_in: Client,
    publisher: Publisher,
    cd: Any,
    place_order: Callable[..., Any],
    status: str,
    why: str,
) -> None:
    order = place_order(publisher, cd)
    assert order.status == OrderStatus.HOLD
    Publisher.objects.filter(id=publisher.id).update(balance=Decimal("20"))
    order_pay_from_balance(order_id=order.id, actor="operator")
    if status == OrderStatus.SHIPPED:
        ship(order, tracking_id="9400 1118")
    elif status == OrderStatus.CANCELLED:
        fulfillment_move(order_id=order.id, to="cancelled", actor="operator", reason="Refund.")
    else:
        flag_address(order, "No such street in Springfield.")
    order.refresh_from_db()
    assert order.status == status
    line = OrderLine.objects.get(order=order)
    before = snapshot(order.id)
    refusal = (
        f"Order {order.id} {why}, so it can no longer be changed or deleted. Only HOLD orders "
        "can be changed, and HOLD and test orders deleted. Contact us if something must change."
    )
    page = signed_in.get(f"/orders/{order.id}")
    if status == OrderStatus.ERROR:
        # The publisher may correct the address of an order stopped for it, nothing else.
        assert (
            "This order is stopped because its address cannot be shipped to: No such street "
            "in Springfield." in text(page)
        )
        assert f"/orders/{order.id}/address" in page.content.decode()
    else:
        assert refusal in text(page)
    assert f"/orders/{order.id}/modify" not in page.content.decode()
    assert f"/orders/{order.id}/delete" not in page.content.decode()

    # A modification posted anyway (a valid one) is refused and writes nothing.
    response = signed_in.post(f"/orders/{order.id}/modify", {**MODIFY, f"quantity_{line.id}": "3"})
    assert response.status_code == 409
    assert refusal in text(response)
    assert '<form method="post" action="/orders/' not in response.content.decode()
    assert snapshot(order.id) == before

    # So is a deletion posted anyway: the service refuses it.
    response = signed_in.post(f"/orders/{order.id}/delete", follow=True)
    assert response.redirect_chain == [(f"/orders/{order.id}", 302)]
    assert (
        f"Order {order.id} {why}, so it can no longer be deleted. Only HOLD orders can be "
        "changed, and HOLD and test orders deleted. Contact us if something must change."
    ) in text(response)
    assert snapshot(order.id) == before
    assert OrderDeletion.objects.count() == 0


def test_a_test_order_can_be_deleted_but_not_modified(
    signed_in: Client, publisher: Publisher, cd: Any, place_order: Callable[..., Any]
) -> None:
    """The spec: test orders "cannot be converted to prod orders. They should be deleted." """
    order = place_order(publisher, cd, mode="test")
    line = OrderLine.objects.get(order=order)
    before = snapshot(order.id)
    refusal = (
        f"Order {order.id} is a test order: test orders cannot be changed or made into "
        "production orders. Delete it and place a new one."
    )
    page = signed_in.get(f"/orders/{order.id}")
    assert refusal in text(page)
    assert f"/orders/{order.id}/modify" not in page.content.decode()
    assert f'action="/orders/{order.id}/delete"' in page.content.decode()
    response = signed_in.post(
        f"/orders/{order.id}/modify",
        {**MODIFY, "mail_method": "standard", f"quantity_{line.id}": "1"},
    )
    assert response.status_code == 409
    assert refusal in text(response)
    assert snapshot(order.id) == before


# Delete


@pytest.mark.parametrize("mode", ["prod", "test"])
def test_delete_a_hold_or_test_order(
    signed_in: Client, publisher: Publisher, cd: Any, place_order: Callable[..., Any], mode: str
) -> None:
    order = place_order(publisher, cd, mode=mode)
    response = signed_in.post(f"/orders/{order.id}/delete", follow=True)
    assert response.redirect_chain == [("/orders", 302)]
    assert f"Order {order.id} (invoice {order.invoice}) for Ada Customer is deleted." in text(
        response
    )
    assert not Order.objects.filter(id=order.id).exists()
    record = OrderDeletion.objects.get()
    assert (record.order_number, record.invoice, record.actor) == (
        order.id,
        order.invoice,
        f"dashboard ({publisher.email})",
    )


def test_delete_needs_post(
    signed_in: Client, publisher: Publisher, cd: Any, place_order: Callable[..., Any]
) -> None:
    order = place_order(publisher, cd)
    assert signed_in.get(f"/orders/{order.id}/delete").status_code == 405
    assert Order.objects.filter(id=order.id).exists()


# Manual order


def manual(project: Any, **overrides: str) -> dict[str, str]:
    data = {
        "mode": "prod",
        "invoice": "MAN-1",
        "project_1": str(project.id),
        "quantity_1": "1",
        "name": "Grace Hopper",
        "company": "",
        "address": "1 Navy Way",
        "city": "Arlington",
        "state": "Virginia",
        "postal_code": "22202",
        "country": "",
        "email": "grace@example.com",
        "mail_method": "standard",
        "special_text": "",
        "customer_price": "",
        "send_notification_email": "",
    }
    data.update(overrides)
    return data


def test_a_manual_order_goes_through_intake(
    signed_in: Client, publisher: Publisher, cd: Any, make_project: Callable[..., Any]
) -> None:
    dvd = make_project(publisher, title="Live DVD", media="dvd", packaging="dvd-case")
    form = signed_in.get("/orders/new")
    assert form.status_code == 200
    assert f'<option value="{cd.id}">{cd.id} Greatest Hits</option>' in form.content.decode()
    response = signed_in.post(
        "/orders/new",
        manual(
            cd,
            project_2=str(dvd.id),
            quantity_2="2",
            customer_price="19.95",
            send_notification_email="0",
            special_text="Code 42",
        ),
    )
    order = Order.objects.get(publisher=publisher)
    assert response.status_code == 302
    assert response["Location"] == f"/orders/{order.id}"
    assert (order.source, order.mode, order.status, order.invoice) == (
        "dashboard",
        "prod",
        "HOLD",
        "MAN-1",
    )
    assert (order.state, order.country, order.special_text) == ("VA", "US", "Code 42")
    assert order.customer_price == Decimal("19.95")
    assert order.send_notification_email is False
    assert [(line.project_id, line.quantity) for line in order.lines.all()] == [
        (cd.id, 1),
        (dvd.id, 2),
    ]
    # $4.50 + 2 x $4.50 (make_project's price), standard + tracking $4.50 + 2 x $0.75
    assert order.total_cost == Decimal("19.50")
    assert order.events.get().actor == f"dashboard ({publisher.email})"
    assert f"Order {order.id} is placed: HOLD, $19.50." in text(signed_in.get(response["Location"]))


def test_a_manual_test_order(signed_in: Client, publisher: Publisher, cd: Any) -> None:
    response = signed_in.post("/orders/new", manual(cd, mode="test", invoice=""))
    assert response.status_code == 302
    order = Order.objects.get(publisher=publisher)
    assert (order.mode, order.status, order.send_notification_email) == ("test", "TEST", None)


def test_manual_order_refusals_are_shown_and_nothing_is_written(
    *,
    signed_in: Client,
    publisher: Publisher,
    cd: Any,
    make_publisher: Callable[..., Any],
    make_project: Callable[..., Any],
    place_order: Callable[..., Any],
) -> None:
    other = make_publisher()
    theirs = make_project(other)
    earlier = place_order(publisher, cd)
    before = Order.objects.count()
    cases = (
        (manual(cd, invoice=earlier.invoice), "This is a duplicate order.", "id_invoice_error"),
        (manual(theirs), "Choose one of your projects.", "id_project_1_error"),
        (manual(cd, name=""), "This field is required.", "id_name_error"),
        (manual(cd, country="Atlantis"), "Atlantis", "id_country_error"),
        (manual(cd, special_text="<b>hi</b>"), "SpecialText must not contain HTML.", None),
        (manual(cd, quantity_1="251"), "less than or equal to 250", "id_quantity_1_error"),
        (manual(cd, quantity_2="3"), "Choose the project for this quantity.", None),
        # Money is read strictly: Django's DecimalField took 1e3 as $1,000.00 and ١٢ as 12.
        (manual(cd, customer_price="1e3"), "at most two decimals", "id_customer_price_error"),
        (manual(cd, customer_price="١٢"), "at most two decimals", "id_customer_price_error"),
        (manual(cd, customer_price="19,95"), "at most two decimals", "id_customer_price_error"),
        (manual(cd, customer_price="0.001"), "at most two decimals", "id_customer_price_error"),
        (
            manual(cd, quantity_1="200", project_2=str(cd.id), quantity_2="51"),
            "The total quantity for this order exceeded the maximum 250.",
            None,
        ),
    )
    for data, message, error_id in cases:
        response = signed_in.post("/orders/new", data)
        assert response.status_code == 400, data
        assert message in text(response), (message, text(response)[-1200:])
        if error_id:
            assert f'id="{error_id}"' in response.content.decode(), error_id
        assert Order.objects.count() == before


def test_manual_order_without_projects_says_to_create_one(signed_in: Client) -> None:
    page = text(signed_in.get("/orders/new"))
    assert "You have no active project to order yet. Create a project first." in page


# Safety


def test_html_in_order_text_is_shown_escaped(
    signed_in: Client,
    publisher: Publisher,
    make_project: Callable[..., Any],
    place_order: Callable[..., Any],
) -> None:
    project = make_project(publisher, title=SCRIPT)
    order = place_order(publisher, project, name=f"Ada {SCRIPT}", company=SCRIPT)
    Order.objects.filter(id=order.id).update(invoice=SCRIPT[:50], tracking_id=SCRIPT)
    for path in (
        "/orders",
        f"/orders/{order.id}",
        f"/orders/{order.id}/modify",
        "/orders/new",
        "/orders?q=" + SCRIPT,
    ):
        page = signed_in.get(path).content.decode()
        assert SCRIPT not in page, path
        assert ESCAPED in page, path


def test_order_pages_have_no_inline_script_or_style(
    signed_in: Client, publisher: Publisher, cd: Any, place_order: Callable[..., Any]
) -> None:
    order = place_order(publisher, cd)
    for path in ("/orders", "/orders/new", f"/orders/{order.id}", f"/orders/{order.id}/modify"):
        page = signed_in.get(path).content.decode()
        assert "<script>" not in page, path
        assert " style=" not in page, path
        assert 'aria-current="page">Orders<' in page, path


def test_order_forms_need_a_csrf_token(
    signed_in: Client, publisher: Publisher, cd: Any, place_order: Callable[..., Any]
) -> None:
    order = place_order(publisher, cd)
    before = snapshot(order.id)
    client = Client(enforce_csrf_checks=True)
    client.cookies = signed_in.cookies
    line = OrderLine.objects.get(order=order)
    assert client.post("/orders/new", manual(cd, invoice="X")).status_code == 403
    assert (
        client.post(
            f"/orders/{order.id}/modify", {**MODIFY, f"quantity_{line.id}": "2"}
        ).status_code
        == 403
    )
    assert client.post(f"/orders/{order.id}/delete").status_code == 403
    assert snapshot(order.id) == before
    assert Order.objects.count() == 1


def test_a_long_login_email_still_fits_the_history(
    make_publisher: Callable[..., Any],
    make_project: Callable[..., Any],
    client_for: Callable[..., Client],
    place_order: Callable[..., Any],
) -> None:
    publisher = make_publisher(email=("x" * 200) + "@example.com")
    order = place_order(publisher, make_project(publisher))
    client = client_for(publisher)
    response = client.post(f"/orders/{order.id}/delete")
    assert response.status_code == 302
    assert len(OrderDeletion.objects.get().actor) == 100


def test_dates_filter_by_utc_days(
    signed_in: Client, publisher: Publisher, cd: Any, place_order: Callable[..., Any]
) -> None:
    late = placed_at(place_order(publisher, cd), datetime(2026, 5, 1, 23, 59, 59, tzinfo=UTC))
    early = placed_at(
        place_order(publisher, cd),
        datetime(2026, 5, 1, 23, 59, 59, tzinfo=UTC) + timedelta(seconds=1),
    )
    assert listed_ids(signed_in.get("/orders", {"placed_to": "2026-05-01"})) == [late.id]
    assert listed_ids(signed_in.get("/orders", {"placed_from": "2026-05-02"})) == [early.id]


def test_the_last_possible_day_is_a_valid_filter(
    signed_in: Client, publisher: Publisher, cd: Any, place_order: Callable[..., Any]
) -> None:
    order = place_order(publisher, cd)
    assert listed_ids(signed_in.get("/orders", {"placed_to": "9999-12-31"})) == [order.id]
    export = signed_in.get("/orders/export.csv", {"placed_to": "9999-12-31"})
    assert export.status_code == 200
    assert len(b"".join(export.streaming_content).decode().splitlines()) == 2


def test_the_order_page_lists_the_emails_sent_about_it(
    *,
    signed_in: Client,
    publisher: Publisher,
    cd: Any,
    make_publisher: Callable[..., Any],
    make_project: Callable[..., Any],
    place_order: Callable[..., Any],
) -> None:
    order = place_order(publisher, cd, email="ada@example.com")
    other = make_publisher(email="other@example.com")
    place_order(other, make_project(other), email="theirs@example.com")
    page = signed_in.get(f"/orders/{order.id}").content.decode()
    table = page.split('data-testid="order-emails"')[1].split("</table>")[0]
    rows = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td>", table)
    assert rows == [("Order notification", "ada@example.com", "Sent")]


def test_the_store_of_a_shopify_order_shows_in_the_list_and_detail_and_is_searchable(
    *, signed_in: Client, publisher: Publisher, cd: Any, place_order: Callable[..., Any]
) -> None:
    from_a = place_order(publisher, cd, name="Ann A")
    from_b = place_order(publisher, cd, name="Bob B")
    by_script = place_order(publisher, cd, name="Cy C")
    Order.objects.filter(id=from_a.id).update(
        source=Source.SHOPIFY, store="artist-a.myshopify.com", invoice="#1040@artist-a"
    )
    Order.objects.filter(id=from_b.id).update(
        source=Source.SHOPIFY, store="artist-b.myshopify.com", invoice="#1040@artist-b"
    )
    listing = signed_in.get("/orders").content.decode()
    assert re.findall(r'data-testid="order-store">([^<]*)<', listing) == [
        "artist-b.myshopify.com",
        "artist-a.myshopify.com",
    ]
    assert listed_ids(signed_in.get("/orders", {"q": "ARTIST-A"})) == [from_a.id]
    assert listed_ids(signed_in.get("/orders", {"q": "#1040"})) == [from_b.id, from_a.id]
    detail = signed_in.get(f"/orders/{from_b.id}").content.decode()
    assert '<dt>Store</dt><dd data-testid="order-store">artist-b.myshopify.com</dd>' in detail
    assert "<dt>Store</dt>" not in signed_in.get(f"/orders/{by_script.id}").content.decode()
