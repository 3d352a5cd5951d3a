"""The operators' shipping pages: stations (the password shown once), marking an order
shipped by hand, the CSV tracking import (preview, per-row errors, all or nothing), the
ship notices to look at, and the margin report's numbers."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.hashers import check_password
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from pressrun.orders.models import FulfillmentState, Order, OrderEvent, ShippingMethod
from pressrun.warehouses.models import ShipNotice, WarehouseConnection
from pressrun.warehouses.selectors import margin_report
from pressrun.warehouses.tracking_import import tracking_import_apply, tracking_import_preview
from tests.fulfillment.support import bring_to, close_window, ship
from tests.warehouses.conftest import Station, basic

pytestmark = pytest.mark.django_db

S = FulfillmentState


@pytest.fixture
def operator() -> Client:
    user = User.objects.create_user("ann", password="a long enough password", is_staff=True)
    client = Client()
    client.force_login(user)
    return client


def today() -> date:
    return timezone.now().date()


def test_the_pages_are_for_operators_only(station: Station) -> None:
    for url in (
        "/operator/shipping/",
        "/operator/shipping/import",
        "/operator/shipping/notices",
        "/operator/shipping/margin",
        "/operator/shipping/orders/1/ship",
    ):
        response = Client().get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/?next=")
        clerk = User.objects.get_or_create(username="clerk")[0]
        client = Client()
        client.force_login(clerk)
        assert client.get(url).status_code == 404


def test_creating_a_station_shows_its_password_once(operator: Client) -> None:
    page = operator.get("/operator/shipping/")
    assert page.status_code == 200
    assert '<a href="/operator/shipping/" aria-current="page">Shipping</a>' in page.content.decode()
    response = operator.post(
        "/operator/shipping/", {"name": "ShipStation <desk>", "after_packing": "on"}
    )
    text = response.content.decode()
    username = re.search(r'data-testid="station-username">([^<]+)<', text)
    password = re.search(r'data-testid="station-password">([^<]+)<', text)
    assert username
    assert password
    assert (
        "http://127.0.0.1:8000/warehouses/shipstation" in text or "/warehouses/shipstation" in text
    )
    assert "ShipStation &lt;desk&gt;" in text
    station = WarehouseConnection.objects.get()
    assert (station.name, station.after_packing, station.enabled, station.publisher_id) == (
        "ShipStation <desk>",
        True,
        True,
        None,
    )
    assert station.username == username.group(1)
    assert password.group(1) not in station.password
    assert check_password(password.group(1), station.password)
    assert response["Cache-Control"] == "no-store, private"
    again = operator.get("/operator/shipping/").content.decode()
    assert password.group(1) not in again
    assert station.username in again
    # The credentials work on the endpoint.
    export = Client().get(
        "/warehouses/shipstation",
        {"action": "export", "start_date": "01/01/2026 00:00", "end_date": "01/02/2026 00:00"},
        HTTP_AUTHORIZATION=basic(station.username, password.group(1)),
    )
    assert export.status_code == 200
    # Disabled from the page: refused.
    operator.post(f"/operator/shipping/stations/{station.id}", {"action": "disable"})
    assert WarehouseConnection.objects.get().enabled is False


def test_createwarehouse_prints_the_credentials_on_one_line(capsys: Any) -> None:
    call_command("createwarehouse", "--name", "Main desk", "--after-packing")
    out = capsys.readouterr().out
    match = re.fullmatch(r"id=(\d+) username=(station-[0-9a-f]{12}) password=(\S+)\n", out)
    assert match, out
    station = WarehouseConnection.objects.get(id=int(match.group(1)))
    assert (station.name, station.username, station.after_packing) == (
        "Main desk",
        match.group(2),
        True,
    )
    assert check_password(match.group(3), station.password)


def test_marking_an_order_shipped_by_hand(operator: Client, paid: Callable[..., Order]) -> None:
    order = paid(quantity=3)  # not a letter: standard + tracking
    assert order.shipping_method == ShippingMethod.STANDARD_TRACKING
    waiting = operator.get(f"/operator/shipping/orders/{order.id}/ship").content.decode()
    assert "This order cannot be shipped now" in waiting
    close_window(order)
    form = {
        "ship_date": today().isoformat(),
        "carrier": "USPS",
        "service": "Ground",
        "tracking_id": "",
        "postage_cost": "3.10",
    }
    refused = operator.post(f"/operator/shipping/orders/{order.id}/ship", form)
    assert refused.status_code == 200
    assert "enter its tracking number" in refused.content.decode()
    assert Order.objects.get(id=order.id).fulfillment_state == S.WAITING
    form["tracking_id"] = "9400 1"
    done = operator.post(f"/operator/shipping/orders/{order.id}/ship", form)
    assert done.status_code == 302
    order.refresh_from_db()
    assert (order.fulfillment_state, order.tracking_id, order.postage_cost, order.carrier) == (
        "shipped",
        "9400 1",
        Decimal("3.10"),
        "USPS",
    )
    assert OrderEvent.objects.filter(order=order, to_state="shipped").get().actor == "operator:ann"


def test_a_letter_rate_order_ships_without_tracking(
    operator: Client, paid: Callable[..., Order]
) -> None:
    order = paid()
    assert order.shipping_method == ShippingMethod.STANDARD
    close_window(order)
    response = operator.post(
        f"/operator/shipping/orders/{order.id}/ship",
        {"ship_date": today().isoformat(), "carrier": "USPS", "service": "First-Class letter"},
    )
    assert response.status_code == 302
    order.refresh_from_db()
    assert (order.fulfillment_state, order.tracking_id, order.postage_cost) == ("shipped", "", None)


def csv_rows(*rows: str) -> str:
    return "invoice or order id,carrier,service,tracking number,ship date,cost\n" + "\n".join(rows)


def test_the_csv_import_previews_then_applies_everything(
    operator: Client, paid: Callable[..., Order]
) -> None:
    first = paid(invoice="A-1", quantity=2)
    second = paid(invoice="A-2")
    already = paid(invoice="A-3")
    for order in (first, second):
        close_window(order)
    ship(already, tracking_id="OLD", carrier="UPS")
    day = today().strftime("%m/%d/%Y")
    text = csv_rows(
        f"A-1,USPS,Priority,9400AAA,{day},7.25",
        f"{second.id},USPS,First-Class,,{today().isoformat()},",
        f"A-3,UPS,Ground,NEW,{day},9.00",
    )
    preview = operator.post("/operator/shipping/import", {"text": text, "preview": "1"})
    page = preview.content.decode()
    assert preview.status_code == 200
    assert (
        f"Order {first.id} (waiting) → shipped {day}, USPS Priority 9400AAA, postage $7.25." in page
    )
    assert (
        f"Order {second.id} (waiting) → shipped {day}, USPS First-Class no tracking (letter)."
        in page
    )
    assert f"Corrects order {already.id}&#x27;s shipment: UPS OLD → UPS NEW." in page
    # The preview saved nothing.
    assert Order.objects.get(id=first.id).fulfillment_state == S.WAITING
    assert Order.objects.get(id=already.id).tracking_id == "OLD"
    applied = operator.post("/operator/shipping/import", {"confirmed_text": text, "apply": "1"})
    assert applied.status_code == 302
    assert [
        Order.objects.values_list("fulfillment_state", "tracking_id", "postage_cost").get(id=o.id)
        for o in (first, second, already)
    ] == [
        ("shipped", "9400AAA", Decimal("7.25")),
        ("shipped", "", None),
        ("shipped", "NEW", Decimal("9.00")),
    ]
    # Applying the same file again changes nothing.
    again = tracking_import_apply(text=text, actor="operator:ann")
    assert again.applied
    assert again.changes == 0


def test_one_bad_row_imports_nothing_and_says_which(
    operator: Client, paid: Callable[..., Order], publisher: Any
) -> None:
    good = paid(invoice="B-1")
    close_window(good)
    waiting = paid(invoice="B-2")
    flagged = bring_to(paid(invoice="B-3"), S.ADDRESS_ERROR)
    tracked = paid(invoice="B-4", quantity=2)
    close_window(tracked)
    day = today().strftime("%m/%d/%Y")
    text = csv_rows(
        f"B-1,USPS,Priority,9400,{day},1.00",
        f"B-2,USPS,Priority,9401,{day},",
        f"B-3,USPS,Priority,9402,{day},",
        f"B-4,USPS,Priority,,{day},",
        f"NOPE,USPS,Priority,9403,{day},",
        f"B-1,USPS,Priority,9404,{day},",
        "B-5,USPS",
        "B-6,USPS,Priority,9405,31/12/2026,",
        f"B-7,USPS,Priority,9405,{day},12,50",
        f"B-8,USPS,Priority,9405,{day},abc",
    )
    result = tracking_import_preview(text=text, actor="operator:ann")
    errors = {row.line: row.error for row in result.errors}
    assert errors == {
        3: f"Order {waiting.id} waits for its postage window: the customer may correct the "
        f"address until {Order.objects.get(id=waiting.id).address_changes_until:%Y-%m-%d %H:%M}"
        " UTC, and nothing is made or shipped before then.",
        4: f"Order {flagged.id} is address error; it cannot be moved to shipped (from "
        "address_error: cancelled, ready).",
        5: f"Order {tracked.id} ships standard + tracking: it needs a tracking number (only "
        "letter-rate orders ship without).",
        6: "No order 'NOPE'.",
        7: f"Order {good.id} is on line 2 already.",
        8: "2 columns; expected 6: invoice or order id, carrier, service, tracking number, "
        "ship date, cost.",
        9: "Ship date '31/12/2026' is not MM/DD/YYYY or YYYY-MM-DD.",
        10: "7 columns; expected 6: invoice or order id, carrier, service, tracking number, "
        "ship date, cost.",
        11: "Cost: 'abc' is not an amount: use digits with an optional point and at most two "
        "decimals, such as 19.95 (no commas, signs or exponents).",
    }
    response = operator.post("/operator/shipping/import", {"confirmed_text": text, "apply": "1"})
    assert response.status_code == 200
    assert "Nothing was imported: fix the rows marked below." in response.content.decode()
    assert Order.objects.get(id=good.id).fulfillment_state == S.WAITING
    assert not OrderEvent.objects.filter(to_state=S.SHIPPED).exists()


def test_an_empty_or_headless_file(operator: Client, paid: Callable[..., Order]) -> None:
    response = operator.post("/operator/shipping/import", {"text": "", "preview": "1"})
    assert "The file has no rows to import." in response.content.decode()
    order = paid(invoice="C-1")
    close_window(order)
    result = tracking_import_preview(text=f"C-1,USPS,,,{today():%m/%d/%Y},", actor="operator:ann")
    assert [row.error for row in result.rows] == [""]


def test_unmatched_notices_are_listed_until_dealt_with(
    operator: Client, station: Station, paid: Callable[..., Order]
) -> None:
    from tests.warehouses.test_shipnotify import notice

    response = station.notify(
        notice(order_id="77777", order_number="GHOST"), {"order_number": "GHOST"}
    )
    assert response.status_code == 404
    page = operator.get("/operator/shipping/notices").content.decode()
    assert "GHOST / 77777" in page
    assert "Unknown order: No order &#x27;GHOST&#x27; is shipped from here." in page
    kept = ShipNotice.objects.get()
    operator.post("/operator/shipping/notices", {"notice": str(kept.id)})
    kept.refresh_from_db()
    assert kept.resolved_by == "operator:ann"
    assert 'data-testid="no-notices"' in operator.get("/operator/shipping/notices").content.decode()
    assert "GHOST" in operator.get("/operator/shipping/notices?show=all").content.decode()


def test_the_margin_report_numbers(operator: Client, paid: Callable[..., Order]) -> None:
    orders = [paid(invoice=f"M-{n}") for n in range(4)]
    Order.objects.filter(id__in=[o.id for o in orders]).update(shipping_cost=Decimal("5.00"))
    ship(orders[0], postage_cost=Decimal("3.25"))
    ship(orders[1], postage_cost=Decimal("6.10"))
    ship(orders[2])  # no cost recorded
    ship(orders[3], postage_cost=Decimal("1.00"), ship_date=today() + timedelta(days=3))
    report = margin_report(date_from=today() - timedelta(days=1), date_to=today())
    assert [
        (row.order_id, row.paid_for_shipping, row.postage_cost, row.margin) for row in report.rows
    ] == [
        (orders[0].id, Decimal("5.00"), Decimal("3.25"), Decimal("1.75")),
        (orders[1].id, Decimal("5.00"), Decimal("6.10"), Decimal("-1.10")),
        (orders[2].id, Decimal("5.00"), None, None),
    ]
    assert (
        report.orders,
        report.without_cost,
        report.paid_for_shipping,
        report.postage_cost,
        report.margin,
    ) == (3, 1, Decimal("10.00"), Decimal("9.35"), Decimal("0.65"))
    page = operator.get(
        "/operator/shipping/margin",
        {"date_from": (today() - timedelta(days=1)).isoformat(), "date_to": today().isoformat()},
    ).content.decode()
    assert "<dt>Margin</dt><dd>$0.65</dd>" in page
    assert "<dt>Orders shipped</dt><dd>3 (1 without a postage cost)</dd>" in page
    assert '<td class="num negative">-$1.10</td>' in page


def test_an_unmatched_notice_can_be_applied_to_the_right_order(
    operator: Client, station: Station, paid: Callable[..., Order]
) -> None:
    from tests.warehouses.test_shipnotify import notice

    order = paid(invoice="REAL-1")
    close_window(order)
    body = notice(order_id="", order_number="TYPO-1", tracking="9400555", cost="2.10")
    assert station.notify(body, {"order_number": "TYPO-1"}).status_code == 404
    kept = ShipNotice.objects.get()
    refused = operator.post(
        "/operator/shipping/notices", {"notice": str(kept.id), "action": "apply", "order": "x"}
    )
    assert refused.status_code == 302
    assert ShipNotice.objects.get().resolved_at is None
    operator.post(
        "/operator/shipping/notices",
        {"notice": str(kept.id), "action": "apply", "order": str(order.id)},
    )
    order.refresh_from_db()
    assert (order.fulfillment_state, order.tracking_id, order.postage_cost) == (
        "shipped",
        "9400555",
        Decimal("2.10"),
    )
    kept.refresh_from_db()
    assert (kept.order_id, kept.resolved_by) == (order.id, "operator:ann")
    event = OrderEvent.objects.get(order=order, to_state="shipped")
    assert event.actor == "operator:ann"
    assert f"From ship notice {kept.id} of Main station." in event.message
