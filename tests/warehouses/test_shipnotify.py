"""ShipNotice: the order becomes shipped with what the label says; repeats, ambiguous,
unknown and cancelled orders, malformed and hostile XML, wrong credentials."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from pressrun.accounts.models import LoginFailure
from pressrun.orders.models import FulfillmentState, Order, OrderEvent
from pressrun.warehouses.models import ShipNotice
from pressrun.warehouses.services import warehouse_set_enabled
from tests.fulfillment.support import bring_to, close_window
from tests.warehouses.conftest import Station, basic

pytestmark = pytest.mark.django_db

S = FulfillmentState


def notice(
    order: Order | None = None,
    *,
    order_id: str | None = None,
    order_number: str = "",
    ship_date: str | None = None,
    carrier: str = "USPS",
    service: str = "Priority Mail",
    tracking: str = "9400111899223197428490",
    cost: str = "8.70",
) -> str:
    if ship_date is None:
        ship_date = timezone.now().strftime("%m/%d/%Y")
    oid = order_id if order_id is not None else (str(order.id) if order else "")
    number = order_number or (order.invoice if order else "")
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        "<ShipNotice>"
        f"<OrderNumber>{number}</OrderNumber><OrderID>{oid}</OrderID>"
        "<CustomerCode>ann@example.com</CustomerCode><NotifyCustomer>false</NotifyCustomer>"
        f"<LabelCreateDate>{ship_date} 14:32</LabelCreateDate><ShipDate>{ship_date}</ShipDate>"
        f"<Carrier>{carrier}</Carrier><Service>{service}</Service>"
        f"<TrackingNumber>{tracking}</TrackingNumber><ShippingCost>{cost}</ShippingCost>"
        "<Recipient><Name>Ann Buyer</Name><Address1>1 Main St</Address1><City>Austin</City>"
        "<State>TX</State><PostalCode>78701</PostalCode><Country>US</Country></Recipient>"
        "<Items><Item><SKU>1</SKU><Name>Greatest Hits</Name><Quantity>1</Quantity></Item></Items>"
        "</ShipNotice>"
    )


def query(order: Order, **extra: str) -> dict[str, str]:
    return {
        "order_number": order.invoice,
        "carrier": "USPS",
        "service": "",
        "tracking_number": "9400111899223197428490",
        **extra,
    }


def ready_order(paid: Callable[..., Order], **kwargs: Any) -> Order:
    order = paid(**kwargs)
    close_window(order)
    return order


def shipped_events(order: Order) -> int:
    return OrderEvent.objects.filter(order=order, kind="fulfillment", to_state=S.SHIPPED).count()


def test_a_notice_ships_the_order_with_the_labels_details(
    station: Station, paid: Callable[..., Order]
) -> None:
    order = ready_order(paid)
    response = station.notify(notice(order), query(order))
    assert response.status_code == 200
    assert response.content.decode() == f"OK Order {order.id} shipped.\n"
    order.refresh_from_db()
    assert (
        order.status,
        order.fulfillment_state,
        order.ship_date,
        order.carrier,
        order.service,
        order.tracking_id,
        order.postage_cost,
    ) == (
        "SHIPPED",
        "shipped",
        timezone.now().date(),
        "USPS",
        "Priority Mail",
        "9400111899223197428490",
        Decimal("8.70"),
    )
    [event] = OrderEvent.objects.filter(order=order, kind="fulfillment", to_state=S.SHIPPED)
    assert event.actor == f"shipstation:{station.id} Main station"
    [kept] = ShipNotice.objects.all()
    assert (kept.outcome, kept.order_id, kept.times_received) == ("applied", order.id, 1)


def test_a_repeated_notice_changes_nothing_and_is_counted(
    station: Station, paid: Callable[..., Order]
) -> None:
    order = ready_order(paid)
    assert station.notify(notice(order), query(order)).status_code == 200
    before = Order.objects.get(id=order.id).updated_at
    again = station.notify(notice(order), query(order))
    assert again.status_code == 200
    assert again.content.decode() == (
        f"OK Order {order.id} already had this shipment; nothing changed.\n"
    )
    assert shipped_events(order) == 1
    assert Order.objects.get(id=order.id).updated_at == before
    [kept] = ShipNotice.objects.all()
    assert (kept.outcome, kept.times_received) == ("applied", 2)


def test_the_query_string_fills_in_what_the_body_leaves_out(
    station: Station, paid: Callable[..., Order]
) -> None:
    order = ready_order(paid)
    body = notice(order, carrier="", service="", tracking="", cost="")
    response = station.notify(body, query(order, carrier="UPS", tracking_number="1Z999"))
    assert response.status_code == 200
    order.refresh_from_db()
    assert (order.carrier, order.service, order.tracking_id, order.postage_cost) == (
        "UPS",
        "",
        "1Z999",
        None,
    )


def test_order_id_is_looked_up_first_then_order_number(
    station: Station,
    paid: Callable[..., Order],
    place: Callable[..., Order],
    make_project: Callable[..., Any],
    publisher: Any,
) -> None:
    first = ready_order(paid, invoice="TWICE")
    dvd = make_project(publisher, title="Live DVD", media="dvd")
    second = place(publisher, dvd, invoice="TWICE")
    Order.objects.filter(id=second.id).update(address_checked_at=second.created_at)
    close_window(second)
    # Without an OrderID, "TWICE" names two open orders: refused, kept, nothing changed.
    response = station.notify(notice(order_id="", order_number="TWICE"), {"order_number": "TWICE"})
    assert response.status_code == 409
    assert response.content.decode() == (
        f"Order number 'TWICE' matches several orders ({first.id}, {second.id}); send the "
        "notice with the OrderID pressrun exported.\n"
    )
    assert Order.objects.filter(fulfillment_state=S.SHIPPED).count() == 0
    [kept] = ShipNotice.objects.all()
    assert (kept.outcome, kept.order_id) == ("ambiguous", None)
    # The exported number invoice-orderid finds it, and so does the OrderID.
    by_number = notice(order_id="", order_number=f"TWICE-{second.id}")
    assert station.notify(by_number, {"order_number": f"TWICE-{second.id}"}).status_code == 200
    assert Order.objects.get(id=second.id).fulfillment_state == S.SHIPPED
    by_id = notice(first, order_number="TWICE")
    assert station.notify(by_id, {"order_number": "TWICE"}).status_code == 200
    assert Order.objects.get(id=first.id).fulfillment_state == S.SHIPPED


def test_an_unknown_order_is_refused_and_kept_for_the_operator(
    station: Station,
    paid: Callable[..., Order],
    place: Callable[..., Order],
    publisher: Any,
    cd: Any,
) -> None:
    test_order = place(publisher, cd, mode="test", invoice="TEST-1")
    for body, params in (
        (notice(order_id="999999", order_number="NOPE"), {"order_number": "NOPE"}),
        (notice(test_order), {"order_number": "TEST-1"}),
    ):
        response = station.notify(body, params)
        assert response.status_code == 404
        assert "is shipped from here" in response.content.decode()
    assert sorted(ShipNotice.objects.values_list("outcome", "order_number")) == [
        ("unknown", "NOPE"),
        ("unknown", "TEST-1"),
    ]
    assert Order.objects.get(id=test_order.id).fulfillment_state == ""


def test_a_cancelled_order_is_refused_and_kept(
    station: Station, paid: Callable[..., Order]
) -> None:
    order = bring_to(paid(), S.CANCELLED)
    response = station.notify(notice(order), query(order))
    assert response.status_code == 409
    assert response.content.decode() == (
        f"Order {order.id} is cancelled; it must not be shipped.\n"
    )
    order.refresh_from_db()
    assert (order.fulfillment_state, order.tracking_id) == ("cancelled", "")
    [kept] = ShipNotice.objects.all()
    assert (kept.outcome, kept.order_id) == ("cancelled", order.id)


def test_an_order_still_waiting_or_in_address_error_is_refused_and_kept(
    station: Station, paid: Callable[..., Order]
) -> None:
    waiting = paid()
    response = station.notify(notice(waiting), query(waiting))
    assert response.status_code == 409
    assert "waits for its postage window" in response.content.decode()
    flagged = bring_to(paid(), S.ADDRESS_ERROR)
    response = station.notify(notice(flagged), query(flagged))
    assert response.status_code == 409
    assert "cannot be moved to shipped" in response.content.decode()
    assert Order.objects.filter(fulfillment_state=S.SHIPPED).count() == 0
    assert set(ShipNotice.objects.values_list("outcome", flat=True)) == {"refused"}


def test_a_different_second_label_is_a_conflict_not_a_change(
    station: Station, paid: Callable[..., Order]
) -> None:
    order = ready_order(paid)
    assert station.notify(notice(order), query(order)).status_code == 200
    other = station.notify(notice(order, tracking="1Z2"), query(order))
    assert other.status_code == 409
    assert "already shipped" in other.content.decode()
    assert Order.objects.get(id=order.id).tracking_id == "9400111899223197428490"


def test_a_bad_ship_date_or_cost_is_a_400(station: Station, paid: Callable[..., Order]) -> None:
    order = ready_order(paid)
    past = (timezone.now() - timedelta(days=30)).strftime("%m/%d/%Y")
    response = station.notify(notice(order, ship_date=past), query(order))
    assert response.status_code == 400
    assert "is not between the day order" in response.content.decode()
    for body, words in (
        (notice(order, ship_date="31/31/2026"), "ShipDate must be a date"),
        (notice(order, cost="lots"), "ShippingCost is not a number"),
        (notice(order, cost="NaN"), "ShippingCost is not a number"),
        (notice(order, cost="1.234"), "The postage cost must be whole cents"),
    ):
        response = station.notify(body, query(order))
        assert response.status_code == 400, body
        assert words in response.content.decode()
    assert Order.objects.get(id=order.id).fulfillment_state != S.SHIPPED


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<ShipNotice><OrderID>&lol4;</OrderID></ShipNotice>"""

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE s [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<ShipNotice><OrderID>&x;</OrderID></ShipNotice>"""


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("", "it is empty"),
        ("<ShipNotice><OrderID>1</ShipNotice>", "not well-formed XML"),
        ("not xml at all", "not well-formed XML"),
        ("<Orders/>", "root element must be <ShipNotice>"),
        (BILLION_LAUGHS, "declares a DTD or entities"),
        (EXTERNAL_ENTITY, "declares a DTD or entities"),
        ("\ufeff<ShipNotice>\x00</ShipNotice>", "not well-formed XML"),
    ],
)
def test_malformed_or_hostile_xml_is_a_400_and_writes_nothing(
    station: Station, paid: Callable[..., Order], body: str, words: str
) -> None:
    order = ready_order(paid)
    response = station.notify(body, query(order))
    assert response.status_code == 400
    assert words in response.content.decode()
    assert ShipNotice.objects.count() == 0
    assert Order.objects.get(id=order.id).fulfillment_state == S.WAITING


def test_a_body_too_large_is_a_413(station: Station, paid: Callable[..., Order]) -> None:
    order = ready_order(paid)
    response = station.notify(
        b"<ShipNotice>" + b" " * (300 * 1024) + b"</ShipNotice>", query(order)
    )
    assert response.status_code == 413
    assert ShipNotice.objects.count() == 0


def test_wrong_credentials_get_401_and_change_nothing(
    station: Station, paid: Callable[..., Order]
) -> None:
    order = ready_order(paid)
    username = station.created.connection.username
    for header in (
        "",
        "Bearer abc",
        "Basic !!!notbase64",
        basic(username, "wrong password"),
        basic("station-nobody", station.created.password),
    ):
        response = station.notify(notice(order), query(order), HTTP_AUTHORIZATION=header)
        assert response.status_code == 401, header
        assert response["WWW-Authenticate"] == (
            'Basic realm="pressrun shipping station", charset="UTF-8"'
        )
    assert ShipNotice.objects.count() == 0
    assert Order.objects.get(id=order.id).fulfillment_state == S.WAITING
    export = station.export("01/01/2026 00:00", "12/31/2027 00:00", HTTP_AUTHORIZATION="")
    assert export.status_code == 401


def test_wrong_passwords_are_throttled_like_the_gateways(station: Station, settings: Any) -> None:
    username = station.created.connection.username
    free = settings.LOGIN_FAILURES_FREE_PER_ADDRESS
    for attempt in range(free):
        response = station.export(
            "01/01/2026 00:00",
            "01/02/2026 00:00",
            HTTP_AUTHORIZATION=basic(username, f"wrong {attempt}"),
        )
        assert response.status_code == 401
    throttled = station.export(
        "01/01/2026 00:00", "01/02/2026 00:00", HTTP_AUTHORIZATION=basic(username, "wrong again")
    )
    assert throttled.status_code == 429
    assert int(throttled["Retry-After"]) >= 1
    assert "Too many failed sign-in attempts" in throttled.content.decode()
    assert LoginFailure.objects.filter(realm="warehouse", login=username).count() == free
    # The same wrong password again is not counted twice (the throttle's rule).
    repeat = station.export(
        "01/01/2026 00:00", "01/02/2026 00:00", HTTP_AUTHORIZATION=basic(username, "wrong 0")
    )
    assert repeat.status_code == 401


def test_verified_credentials_are_cached_and_a_new_password_ends_them(
    station: Station, settings: Any, django_assert_max_num_queries: Any
) -> None:
    from pressrun.warehouses.services import warehouse_reset_password

    window = ("01/01/2026 00:00", "01/02/2026 00:00")
    # Only the sign-in's queries are counted here: not the rate limit's count, which every
    # verified request takes (tests/warehouses/test_rate_limit.py).
    settings.WAREHOUSE_REQUESTS_PER_MINUTE = 0
    assert station.export(*window).status_code == 200
    # A cache hit: one read of the connection, no sign-in bookkeeping.
    with django_assert_max_num_queries(3):
        assert station.export(*window).status_code == 200
    warehouse_reset_password(connection_id=station.id)
    assert station.export(*window).status_code == 401


def test_a_disabled_station_gets_403(station: Station) -> None:
    warehouse_set_enabled(connection_id=station.id, enabled=False)
    response = station.export("01/01/2026 00:00", "01/02/2026 00:00")
    assert response.status_code == 403
    assert "is disabled" in response.content.decode()


def test_wrong_methods_get_405(station: Station) -> None:
    response = station.client.generic(
        "POST",
        "/warehouses/shipstation?action=export"
        "&start_date=01/01/2026 00:00&end_date=01/02/2026 00:00",
        HTTP_AUTHORIZATION=station.auth,
    )
    assert response.status_code == 405
    response = station.get("action=shipnotify&order_number=1")
    assert response.status_code == 405
    response = station.client.put("/warehouses/shipstation", HTTP_AUTHORIZATION=station.auth)
    assert response.status_code == 405


def test_nul_and_control_characters_in_the_query_are_no_500(
    station: Station, paid: Callable[..., Order]
) -> None:
    order = ready_order(paid)
    body = notice(order_id="", order_number="", carrier="", service="", tracking="")
    response = station.notify(
        body, {"order_number": "A\x00B", "carrier": "US\x00PS", "tracking_number": "9\x01"}
    )
    assert response.status_code == 404
    kept = ShipNotice.objects.get()
    assert "\x00" not in kept.order_number + kept.carrier + kept.tracking_number
    shipped = station.notify(
        notice(order, carrier="", service="", tracking=""),
        {"carrier": "US\x00PS", "tracking_number": "94\x00001"},
    )
    assert shipped.status_code == 200
    order.refresh_from_db()
    assert (order.carrier, order.tracking_id) == ("US PS", "94 001")


def test_plain_http_is_refused_not_redirected_once_published_on_https(
    station: Station, paid: Callable[..., Order], settings: Any
) -> None:
    settings.PRESSRUN_PUBLIC_BASE_URL = "https://orders.example.com"
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    order = ready_order(paid)
    response = station.notify(notice(order), query(order))
    assert response.status_code == 403
    assert "Use https://" in response.content.decode()
    assert ShipNotice.objects.count() == 0
    secure = station.notify(notice(order), query(order), HTTP_X_FORWARDED_PROTO="https")
    assert secure.status_code == 200


def test_housekeeping_deletes_old_applied_and_dealt_with_notices_only(
    station: Station, paid: Callable[..., Order]
) -> None:
    from pressrun.warehouses.notices import ship_notice_resolve, ship_notices_delete_expired

    order = ready_order(paid)
    station.notify(notice(order), query(order))
    station.notify(notice(order_id="999991", order_number="NOPE-A"), {"order_number": "NOPE-A"})
    station.notify(notice(order_id="999992", order_number="NOPE-B"), {"order_number": "NOPE-B"})
    ship_notice_resolve(notice_id=ShipNotice.objects.get(order_number="NOPE-B").id, actor="op")
    later = timezone.now() + timedelta(days=91)
    assert ship_notices_delete_expired(now=timezone.now()) == 0
    assert ship_notices_delete_expired(now=later) == 2
    assert list(ShipNotice.objects.values_list("order_number", flat=True)) == ["NOPE-A"]


def test_a_notice_without_dates_ships_today_and_repeats_as_the_same_day(
    station: Station, paid: Callable[..., Order]
) -> None:
    order = ready_order(paid)
    body = notice(order).replace(
        f"<LabelCreateDate>{timezone.now():%m/%d/%Y} 14:32</LabelCreateDate>", ""
    )
    body = body.replace(f"<ShipDate>{timezone.now():%m/%d/%Y}</ShipDate>", "")
    assert "Date" not in body
    assert station.notify(body, query(order)).status_code == 200
    Order.objects.filter(id=order.id).update(ship_date=timezone.now().date() - timedelta(days=1))
    again = station.notify(body, query(order))
    assert again.status_code == 200
    assert "nothing changed" in again.content.decode()
    assert shipped_events(order) == 1


def test_a_publishers_own_warehouse_cannot_ship_pressruns_orders(
    make_station: Callable[..., Station], paid: Callable[..., Order], publisher: Any
) -> None:
    own = make_station(name="Their 3PL", publisher_id=publisher.id)
    assert own.created.connection.enabled is False  # a publisher's warehouse starts disabled
    order = ready_order(paid)
    assert own.notify(notice(order), query(order)).status_code == 403
    warehouse_set_enabled(connection_id=own.id, enabled=True)
    response = own.notify(notice(order), query(order))
    assert response.status_code == 404
    assert Order.objects.get(id=order.id).fulfillment_state == S.WAITING
    assert ShipNotice.objects.get().outcome == "unknown"


def test_credentials_with_control_characters_are_wrong_credentials(station: Station) -> None:
    for username, password in (("station-\x00x", "pw"), ("a\nb", "pw"), ("", ""), ("x", "p\x00w")):
        response = station.export(
            "01/01/2026 00:00", "01/02/2026 00:00", HTTP_AUTHORIZATION=basic(username, password)
        )
        assert response.status_code == 401
    response = station.export(
        "01/01/2026 00:00", "01/02/2026 00:00", HTTP_AUTHORIZATION="Basic w6k6w6k="
    )
    assert response.status_code == 401
