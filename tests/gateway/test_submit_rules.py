"""SubmitProductOrder rules, driven through the HTTP gateway with Django's test client."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import pytest
from django.utils import timezone

from pressrun.billing.models import LedgerEntry, LedgerKind, ShippingRate
from pressrun.orders.models import Order, OrderEvent, OrderLine
from tests.conftest import PASSWORD
from tests.gateway.helpers import (
    FAILURE,
    ORDER_URL,
    balance,
    nothing_written,
    order_fields,
    refuse,
    status,
    submit,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def publisher(make_publisher: Any) -> Any:
    return make_publisher(balance="100")


@pytest.fixture
def project(make_project: Any, publisher: Any) -> Any:
    return make_project(publisher)


@pytest.fixture
def other_project(make_project: Any, publisher: Any) -> Any:
    return make_project(publisher, title="Live")


def placed(client: Any, **fields: Any) -> Order:
    """Submit, check it succeeded, and return the stored order."""
    reply = submit(client, **fields)
    assert reply["SUCCESS"], reply
    return Order.objects.get(id=int(reply["Order"]))


def line_tuples(order: Order) -> list[tuple[int, int, int]]:
    return [(line.position, line.project_id, line.quantity) for line in order.lines.all()]


# --- transport: GET / POST, mixed, letter case, encodings, repeats -----------------------


@pytest.mark.parametrize("method", ["get", "post"])
def test_get_and_post_both_place_an_order(client: Any, publisher: Any, project: Any, method: str):
    order = placed(client, method=method, **order_fields(publisher, project, invoice="INV-1"))
    assert order.invoice == "INV-1"
    assert order.name == "John H. Smith"
    assert line_tuples(order) == [(1, project.id, 1)]


def test_query_string_and_body_are_combined(client: Any, publisher: Any, project: Any):
    fields = order_fields(publisher, project, Invoice="MIX-1", quantity="2")
    query = f"productid={project.id}&quantity=2&source=cdfulfill&ordermethod=url"
    for name in ("productid", "quantity", "source", "ordermethod"):
        del fields[name]
    order = placed(client, query=query, **fields)
    assert order.invoice == "MIX-1"
    assert line_tuples(order) == [(1, project.id, 2)]


def test_field_names_in_any_letter_case(client: Any, publisher: Any, project: Any):
    fields = order_fields(publisher, project)
    fields = {name.upper(): value for name, value in fields.items()}
    order = placed(client, nPrice="5", INVOICE="CASE-1", typemailmethod="PRIORITY", **fields)
    assert order.invoice == "CASE-1"
    assert order.customer_price == Decimal("5.00")
    assert order.shipping_method == "priority"


@pytest.mark.parametrize(("query", "body"), [("nprice=5", "nPrice=5"), ("nPrice=5", "NPRICE=5")])
def test_same_field_in_two_cases_with_the_same_value_is_fine(
    client: Any, publisher: Any, project: Any, query: str, body: str
):
    raw = urlencode(order_fields(publisher, project)) + "&" + body
    reply = submit(client, query=query, body=raw)
    assert reply["SUCCESS"], reply
    assert Order.objects.get().customer_price == Decimal("5.00")


@pytest.mark.parametrize(
    ("query", "extra"),
    [
        ("nprice=5", "nPrice=6"),  # query vs body, different case
        ("", "name=Someone+Else"),  # twice in the body
        ("PRODUCTID=999999", ""),  # query vs body, upper case
        ("mode=test", ""),
    ],
)
def test_field_repeated_with_different_values_is_refused(
    client: Any, publisher: Any, project: Any, query: str, extra: str
):
    raw = urlencode(order_fields(publisher, project)) + ("&" + extra if extra else "")
    with nothing_written():
        reply = submit(client, query=query, body=raw)
    assert reply["ERRCODE"] == "000047"


def test_field_repeated_with_the_same_value_is_fine(client: Any, publisher: Any, project: Any):
    raw = urlencode(order_fields(publisher, project)) + "&name=John+H.+Smith&mode=prod"
    reply = submit(client, query=f"productid={project.id}&Name=John%20H.%20Smith", body=raw)
    assert reply["SUCCESS"], reply


@pytest.mark.parametrize("method", ["get", "post"])
def test_url_encoded_special_text_from_the_spec(
    client: Any, publisher: Any, project: Any, method: str
):
    encoded = (
        "Thank+you+for+ordering%2E++Your+unlock+code+is+123%2D23456%2E++Email+questions+to+"
        "help%40somedomain%2Ecom"
    )
    order = placed(
        client, method=method, query="SpecialText=" + encoded, **order_fields(publisher, project)
    )
    assert order.special_text == (
        "Thank you for ordering.  Your unlock code is 123-23456.  Email questions to "
        "help@somedomain.com"
    )


@pytest.mark.parametrize(
    ("content_type", "encoded_name"),
    [
        ("application/x-www-form-urlencoded", "Jos%E9"),  # Windows-1252, no charset
        ("application/x-www-form-urlencoded; charset=windows-1252", "Jos%E9"),
        ("application/x-www-form-urlencoded", "Jos%C3%A9"),  # UTF-8
        ("application/x-www-form-urlencoded; charset=utf-8", "Jos%C3%A9"),
    ],
)
def test_body_encodings(
    client: Any, publisher: Any, project: Any, content_type: str, encoded_name: str
):
    raw = urlencode(order_fields(publisher, project, name=None)) + "&name=" + encoded_name
    reply = submit(client, body=raw.encode("ascii"), content_type=content_type)
    assert reply["SUCCESS"], reply
    assert Order.objects.get().name == "José"


def test_windows_1252_query_string(client: Any, publisher: Any, project: Any):
    order = placed(
        client, method="get", query="city=Montr%E9al", **order_fields(publisher, project, city=None)
    )
    assert order.city == "Montréal"


def test_multipart_body_is_read(client: Any, publisher: Any, project: Any):
    response = client.post(ORDER_URL, order_fields(publisher, project, invoice="MP-1"))
    assert response.content.startswith(b"[SUCCESS]")
    assert Order.objects.get().invoice == "MP-1"


# --- products and quantities -------------------------------------------------------------


@pytest.fixture
def three_projects(make_project: Any, publisher: Any) -> list[Any]:
    return [make_project(publisher, project_id=pid) for pid in (66750, 66760, 66770)]


def test_product_list_with_quantity_list(client: Any, publisher: Any, three_projects: list[Any]):
    reply = submit(
        client,
        **order_fields(publisher, *three_projects, productid="66750x66760x66770", quantity="1x3x2"),
    )
    assert reply["SUCCESS"], reply
    assert reply["Products"] == "66750x66760x66770"
    assert reply["Quantities"] == "1x3x2"
    order = Order.objects.get(id=int(reply["Order"]))
    assert line_tuples(order) == [(1, 66750, 1), (2, 66760, 3), (3, 66770, 2)]
    assert order.total_quantity == 6


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [
        (None, [1, 1, 1]),
        ("", [1, 1, 1]),
        ("  ", [1, 1, 1]),
        ("x3x", [1, 3, 1]),
        ("2xx", [2, 1, 1]),
        ("4X2X2", [4, 2, 2]),
        (" 1 x 2 x 3 ", [1, 2, 3]),
    ],
)
def test_blank_quantity_is_one(
    client: Any,
    publisher: Any,
    three_projects: list[Any],
    quantity: str | None,
    expected: list[int],
):
    order = placed(client, **order_fields(publisher, *three_projects, quantity=quantity))
    assert [line.quantity for line in order.lines.all()] == expected


@pytest.mark.parametrize("quantity", ["1", "250", "007"])
def test_quantity_in_range(client: Any, publisher: Any, project: Any, quantity: str):
    order = placed(client, **order_fields(publisher, project, quantity=quantity))
    assert line_tuples(order) == [(1, project.id, int(quantity))]


@pytest.mark.parametrize(
    "quantity", ["0", "-1", "251", "1.5", "abc", "1e2", "+1", "99999999999999999999"]
)
def test_quantity_out_of_range(client: Any, publisher: Any, project: Any, quantity: str):
    refuse(client, "003103", **order_fields(publisher, project, quantity=quantity))


@pytest.mark.parametrize("quantity", ["1x0x1", "1x3x251", "1x-2x1"])
def test_quantity_in_list_out_of_range(
    client: Any, publisher: Any, three_projects: list[Any], quantity: str
):
    refuse(client, "003103", **order_fields(publisher, *three_projects, quantity=quantity))


@pytest.mark.parametrize(
    ("quantity", "listed", "total"),
    [
        ("100x100x51", "100x100x51", 251),
        ("250x250x250", "250x250x250", 750),
        ("x250x", "1x250x1", 252),
    ],
)
def test_total_quantity_over_250(
    *,
    client: Any,
    publisher: Any,
    three_projects: list[Any],
    quantity: str,
    listed: str,
    total: int,
):
    message = refuse(
        client, "003101", **order_fields(publisher, *three_projects, quantity=quantity)
    )
    assert message.startswith(
        "The total quantity for this multi product order exceeded the maximum 250."
    )
    assert f"The quantities you submitted were {listed} which total {total}." in message


def test_total_quantity_of_exactly_250(client: Any, publisher: Any, three_projects: list[Any]):
    order = placed(client, **order_fields(publisher, *three_projects, quantity="100x100x50"))
    assert order.total_quantity == 250


@pytest.mark.parametrize("quantity", ["1x2", "1x2x3x4", "1"])
def test_quantity_count_mismatch(
    client: Any, publisher: Any, three_projects: list[Any], quantity: str
):
    refuse(client, "003102", **order_fields(publisher, *three_projects, quantity=quantity))


@pytest.mark.parametrize("productid", [None, "", "   "])
def test_blank_productid(client: Any, publisher: Any, productid: str | None):
    message = refuse(client, "000101", **order_fields(publisher, productid=productid))
    assert message.startswith("prod, productid, and eCommerceList were blank.")


@pytest.mark.parametrize("entries", ["{a}x", "{a}xx{b}", "x{a}", "{a}x x{b}", "x"])
def test_blank_entry_in_product_list(
    client: Any, publisher: Any, project: Any, other_project: Any, entries: str
):
    productid = entries.format(a=project.id, b=other_project.id)
    refuse(client, "000010", **order_fields(publisher, productid=productid))


@pytest.mark.parametrize("productid", ["abc", "12a", "1.5", "-5", "+5", "{a}x1-2", "1x2.5"])
def test_non_numeric_product(client: Any, publisher: Any, project: Any, productid: str):
    refuse(client, "000011", **order_fields(publisher, productid=productid.format(a=project.id)))


@pytest.mark.parametrize(
    "productid", ["999999", "0", "000", "0x{a}", str(2**63 - 1), str(2**63), str(2**64), "9" * 25]
)
def test_unknown_product(client: Any, publisher: Any, project: Any, productid: str):
    refuse(client, "000012", **order_fields(publisher, productid=productid.format(a=project.id)))


def test_unknown_product_in_a_list(client: Any, publisher: Any, project: Any):
    message = refuse(client, "000012", **order_fields(publisher, productid=f"{project.id}x999999"))
    assert "999999" in message


def test_retired_product_is_unknown(client: Any, publisher: Any, project: Any):
    project.is_active = False
    project.save()
    refuse(client, "000012", **order_fields(publisher, project))


def test_another_publishers_product(
    client: Any, make_publisher: Any, make_project: Any, publisher: Any, project: Any
):
    stranger = make_publisher(balance="50")
    theirs = make_project(stranger)
    for productid in (str(theirs.id), f"{project.id}x{theirs.id}"):
        message = refuse(client, "000505", **order_fields(publisher, productid=productid))
        assert str(theirs.id) in message


@pytest.mark.parametrize(
    ("productid", "quantity", "expected"),
    [
        ("{a}x{a}", "", [("a", 2)]),
        ("{a}x{a}", "2x3", [("a", 5)]),
        ("{a}x{b}x{a}", "1x4x2", [("a", 3), ("b", 4)]),
        ("{b}x{a}x{b}", "", [("b", 2), ("a", 1)]),
    ],
)
def test_product_listed_twice_is_merged(
    *,
    client: Any,
    publisher: Any,
    project: Any,
    other_project: Any,
    productid: str,
    quantity: str,
    expected: list[tuple[str, int]],
):
    ids = {"a": project.id, "b": other_project.id}
    reply = submit(
        client, **order_fields(publisher, productid=productid.format(**ids), quantity=quantity)
    )
    assert reply["SUCCESS"], reply
    order = Order.objects.get(id=int(reply["Order"]))
    assert line_tuples(order) == [
        (position, ids[key], qty) for position, (key, qty) in enumerate(expected, start=1)
    ]
    assert reply["Products"] == "x".join(str(ids[key]) for key, _ in expected)
    assert reply["Quantities"] == "x".join(str(qty) for _, qty in expected)


def test_merged_product_over_250_is_refused(client: Any, publisher: Any, project: Any):
    refuse(
        client,
        "003101",
        **order_fields(publisher, productid=f"{project.id}x{project.id}", quantity="200x51"),
    )


# --- invoice and duplicates ----------------------------------------------------------------


def test_invoice_of_50_characters(client: Any, publisher: Any, project: Any):
    order = placed(client, **order_fields(publisher, project, Invoice="I" * 50))
    assert order.invoice == "I" * 50


def test_invoice_of_51_characters(client: Any, publisher: Any, project: Any):
    refuse(client, "000036", **order_fields(publisher, project, Invoice="I" * 51))


def test_invoice_is_stripped(client: Any, publisher: Any, project: Any):
    order = placed(client, **order_fields(publisher, project, Invoice="  A-1  "))
    assert order.invoice == "A-1"


def test_duplicate_invoice_on_the_same_product(client: Any, publisher: Any, project: Any):
    first = placed(client, **order_fields(publisher, project, Invoice="DUP-1"))
    message = refuse(
        client, "000035", **order_fields(publisher, project, Invoice="DUP-1", name="Someone Else")
    )
    assert message.startswith("This is a duplicate Order. ")
    assert f"Order {first.id}," in message
    assert "DUP-1" in message


def test_duplicate_invoice_refused_before_charging(client: Any, publisher: Any, project: Any):
    first = placed(client, **order_fields(publisher, project, Invoice="DUP-2"))
    assert first.status == "PROCESSING"
    left = balance(publisher)
    refuse(client, "000035", **order_fields(publisher, project, Invoice="DUP-2"))
    assert balance(publisher) == left


def test_same_invoice_on_a_different_product_is_accepted(
    client: Any, publisher: Any, project: Any, other_project: Any
):
    placed(client, **order_fields(publisher, project, Invoice="SHARED"))
    placed(client, **order_fields(publisher, other_project, Invoice="SHARED"))
    assert Order.objects.filter(invoice="SHARED").count() == 2


def test_same_invoice_sharing_one_product_is_a_duplicate(
    client: Any, publisher: Any, project: Any, other_project: Any
):
    first = placed(client, **order_fields(publisher, project, Invoice="PART"))
    message = refuse(
        client, "000035", **order_fields(publisher, other_project, project, Invoice="PART")
    )
    assert f"Order {first.id}," in message
    assert str(project.id) in message


@pytest.mark.parametrize(("first_mode", "second_mode"), [("test", "prod"), ("prod", "test")])
def test_test_and_prod_invoices_are_separate(
    client: Any, publisher: Any, project: Any, first_mode: str, second_mode: str
):
    placed(client, **order_fields(publisher, project, Invoice="MODES", mode=first_mode))
    placed(client, **order_fields(publisher, project, Invoice="MODES", mode=second_mode))
    refuse(client, "000035", **order_fields(publisher, project, Invoice="MODES", mode=second_mode))


def test_same_email_and_product_within_5_days(client: Any, publisher: Any, project: Any):
    first = placed(client, **order_fields(publisher, project, email="Bob@Example.com"))
    message = refuse(
        client, "000035", **order_fields(publisher, project, email="bob@example.COM", name="B")
    )
    assert f"Order {first.id}," in message
    assert "within the last 5 days" in message


def test_same_email_sharing_one_product_within_5_days(
    client: Any, publisher: Any, project: Any, other_project: Any
):
    placed(client, **order_fields(publisher, project, email="bob@example.com"))
    refuse(
        client, "000035", **order_fields(publisher, other_project, project, email="bob@example.com")
    )


@pytest.mark.parametrize(("age_days", "accepted"), [(4, False), (6, True)])
def test_same_email_after_5_days(
    client: Any, publisher: Any, project: Any, age_days: int, accepted: bool
):
    first = placed(client, **order_fields(publisher, project, email="bob@example.com"))
    then = timezone.now() - timedelta(days=age_days)
    OrderLine.objects.filter(order=first).update(created_at=then)
    Order.objects.filter(id=first.id).update(created_at=then)
    fields = order_fields(publisher, project, email="bob@example.com")
    if accepted:
        placed(client, **fields)
    else:
        refuse(client, "000035", **fields)


def test_same_email_different_product_is_accepted(
    client: Any, publisher: Any, project: Any, other_project: Any
):
    placed(client, **order_fields(publisher, project, email="bob@example.com"))
    placed(client, **order_fields(publisher, other_project, email="bob@example.com"))


def test_same_email_with_invoices_is_not_checked(client: Any, publisher: Any, project: Any):
    placed(client, **order_fields(publisher, project, email="bob@example.com", Invoice="A"))
    placed(client, **order_fields(publisher, project, email="bob@example.com", Invoice="B"))


def test_same_email_in_test_then_prod_is_accepted(client: Any, publisher: Any, project: Any):
    placed(client, **order_fields(publisher, project, email="bob@example.com", mode="test"))
    placed(client, **order_fields(publisher, project, email="bob@example.com", mode="prod"))


def test_without_invoice_and_email_there_is_no_duplicate_check(
    client: Any, publisher: Any, project: Any
):
    fields = order_fields(publisher, project)
    first = placed(client, **fields)
    second = placed(client, **fields)
    assert first.id != second.id
    assert Order.objects.count() == 2


# --- mode, charging --------------------------------------------------------------------------


def test_test_order_is_never_charged(client: Any, publisher: Any, project: Any):
    before = balance(publisher)
    ledger = LedgerEntry.objects.count()
    reply = submit(client, **order_fields(publisher, project, mode="test"))
    assert reply["Status"] == "TEST"
    assert reply["Mode"] == "test"
    order = Order.objects.get()
    assert (order.mode, order.status, order.charged_at) == ("test", "TEST", None)
    assert order.total_cost == Decimal("6.00")
    assert balance(publisher) == before
    assert LedgerEntry.objects.count() == ledger
    assert list(OrderEvent.objects.values_list("kind", "to_status")) == [("placed", "TEST")]


def test_prod_order_with_balance_is_charged(client: Any, publisher: Any, project: Any):
    reply = submit(client, **order_fields(publisher, project, quantity="3"))
    assert reply["Status"] == "PROCESSING"
    order = Order.objects.get()
    # 3 x 4.50 + standard+tracking (three units cannot travel as a letter) 4.50 + 2 x 0.75
    assert order.total_cost == Decimal("19.50")
    assert reply["Total"] == "$19.50"
    assert balance(publisher) == Decimal("80.50")
    charges = LedgerEntry.objects.filter(kind=LedgerKind.ORDER_CHARGE)
    assert list(charges.values_list("order_id", "amount")) == [(order.id, Decimal("-19.50"))]
    assert order.charged_at is not None
    assert list(order.events.values_list("kind", "to_status")) == [
        ("placed", "HOLD"),
        ("charged", "PROCESSING"),
    ]


def test_prod_order_costing_exactly_the_balance_is_charged(
    client: Any, make_publisher: Any, make_project: Any
):
    publisher = make_publisher(balance="6.00")
    project = make_project(publisher)
    assert submit(client, **order_fields(publisher, project))["Status"] == "PROCESSING"
    assert balance(publisher) == Decimal("0.00")


@pytest.mark.parametrize("credit", ["0", "5.99"])
def test_prod_order_without_enough_balance_is_held(
    client: Any, make_publisher: Any, make_project: Any, credit: str
):
    publisher = make_publisher(balance=credit)
    project = make_project(publisher)
    ledger = LedgerEntry.objects.count()
    reply = submit(client, **order_fields(publisher, project))
    assert reply["Status"] == "HOLD"
    order = Order.objects.get()
    assert (order.status, order.charged_at, order.total_cost) == ("HOLD", None, Decimal("6.00"))
    assert balance(publisher) == Decimal(credit)
    assert LedgerEntry.objects.count() == ledger


@pytest.mark.parametrize("mode", [None, "", " ", "prod", "PROD", "Prod"])
def test_blank_mode_is_prod(client: Any, publisher: Any, project: Any, mode: str | None):
    order = placed(client, **order_fields(publisher, project, mode=mode))
    assert (order.mode, order.status) == ("prod", "PROCESSING")


@pytest.mark.parametrize("mode", ["TEST", "Test", " test "])
def test_test_mode_in_any_case(client: Any, publisher: Any, project: Any, mode: str):
    order = placed(client, **order_fields(publisher, project, mode=mode))
    assert (order.mode, order.status) == ("test", "TEST")


@pytest.mark.parametrize("mode", ["bogus", "production", "live", "1"])
def test_invalid_mode(client: Any, publisher: Any, project: Any, mode: str):
    refuse(client, "000040", **order_fields(publisher, project, mode=mode))


# --- cost --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("packaging", "price", "quantity", "mail", "address", "method", "products", "shipping"),
    [
        # standard letter: 1.50 first unit
        ("sleeve", "4.50", "1", "standard", {}, "standard", "4.50", "1.50"),
        # two units travel as a parcel: 4.50 + 0.75
        ("sleeve", "4.50", "2", "standard", {}, "standard+tracking", "9.00", "5.25"),
        ("jewel-case", "3.00", "1", "rtrackstandard", {}, "standard+tracking", "3.00", "4.50"),
        ("dvd-case", "5.25", "4", "priority", {}, "priority", "21.00", "12.50"),
        ("usb-ecomailer", "12.00", "1", "express", {}, "express", "12.00", "29.00"),
        (
            "sleeve",
            "4.50",
            "1",
            "standard",
            {"country": "GB", "st": "", "zip": "SW1A 1AA"},
            "standard+tracking",
            "4.50",
            "14.00",
        ),
        (
            "sleeve",
            "4.50",
            "3",
            "priority",
            {"country": "CA", "st": "ON", "zip": "K1A 0B1"},
            "priority",
            "13.50",
            "36.00",
        ),
        (
            "sleeve",
            "1.99",
            "5",
            "express",
            {"country": "DE", "st": "", "zip": "10115"},
            "express",
            "9.95",
            "67.00",
        ),
    ],
)
def test_cost_is_price_times_quantity_plus_shipping(
    *,
    client: Any,
    publisher: Any,
    make_project: Any,
    packaging: str,
    price: str,
    quantity: str,
    mail: str,
    address: dict[str, str],
    method: str,
    products: str,
    shipping: str,
):
    project = make_project(publisher, packaging=packaging, price=price)
    fields = order_fields(publisher, project, quantity=quantity, typeMailMethod=mail, **address)
    reply = submit(client, **fields)
    assert reply["SUCCESS"], reply
    order = Order.objects.get()
    total = Decimal(products) + Decimal(shipping)
    assert order.shipping_method == method
    assert (order.products_cost, order.shipping_cost, order.total_cost) == (
        Decimal(products),
        Decimal(shipping),
        total,
    )
    assert reply["Total"] == f"${total}"
    assert balance(publisher) == Decimal("100.00") - total


def test_cost_of_a_multi_product_order(client: Any, publisher: Any, make_project: Any):
    a = make_project(publisher, price="4.50")
    b = make_project(publisher, price="7.25", packaging="jewel-case")
    order = placed(client, **order_fields(publisher, a, b, quantity="1x3"))
    assert [line.unit_price for line in order.lines.all()] == [Decimal("4.50"), Decimal("7.25")]
    # 4.50 + 3 x 7.25 = 26.25; standard+tracking, 4 units: 4.50 + 3 x 0.75 = 6.75
    assert (order.products_cost, order.shipping_cost, order.total_cost) == (
        Decimal("26.25"),
        Decimal("6.75"),
        Decimal("33.00"),
    )


def test_editing_a_shipping_rate_changes_the_next_order(client: Any, publisher: Any, project: Any):
    assert placed(client, **order_fields(publisher, project, quantity="2")).total_cost == Decimal(
        "14.25"
    )
    ShippingRate.objects.filter(shipping_method="standard+tracking", region="domestic").update(
        first_unit=Decimal("5.10"), each_additional_unit=Decimal("0.95")
    )
    second = placed(client, **order_fields(publisher, project, quantity="2"))
    # 9.00 + 5.10 + 0.95
    assert (second.shipping_cost, second.total_cost) == (Decimal("6.05"), Decimal("15.05"))
    assert balance(publisher) == Decimal("100.00") - Decimal("14.25") - Decimal("15.05")


def test_missing_shipping_rate_refuses_the_order(client: Any, publisher: Any, project: Any):
    ShippingRate.objects.filter(shipping_method="express", region="international").delete()
    refuse(
        client,
        "009002",
        **order_fields(
            publisher, project, typeMailMethod="express", country="FR", st="", zip="75001"
        ),
    )


# --- typeMailMethod ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("default", "expected"),
    [
        ("standard", "standard"),
        ("rtrackstandard", "standard+tracking"),
        ("priority", "priority"),
        ("express", "express"),
    ],
)
@pytest.mark.parametrize("given", [None, ""])
def test_default_mail_method_is_the_publishers(
    *,
    client: Any,
    make_publisher: Any,
    make_project: Any,
    default: str,
    expected: str,
    given: str | None,
):
    publisher = make_publisher(default_mail_method=default)
    project = make_project(publisher)
    order = placed(client, **order_fields(publisher, project, typeMailMethod=given))
    assert (order.mail_method, order.shipping_method) == (default, expected)


@pytest.mark.parametrize(
    ("mail", "packaging", "quantity", "country", "expected"),
    [
        ("standard", "sleeve", "1", "US", "standard"),
        ("standard", "usb-ecomailer", "1", "US", "standard"),
        ("Standard", "sleeve", "1", "US", "standard"),
        ("standard", "jewel-case", "1", "US", "standard+tracking"),
        ("standard", "dvd-case", "1", "US", "standard+tracking"),
        ("standard", "sleeve", "2", "US", "standard+tracking"),
        ("standard", "usb-ecomailer", "2", "US", "standard+tracking"),
        ("standard", "sleeve", "1", "GB", "standard+tracking"),
        ("standard", "usb-ecomailer", "1", "CA", "standard+tracking"),
        ("rtrackstandard", "sleeve", "1", "US", "standard+tracking"),
        ("RTRACKSTANDARD", "jewel-case", "3", "GB", "standard+tracking"),
        ("priority", "sleeve", "1", "US", "priority"),
        ("priority", "dvd-case", "2", "GB", "priority"),
        ("express", "sleeve", "1", "US", "express"),
        ("Express", "jewel-case", "5", "CA", "express"),
    ],
)
def test_shipping_method(
    *,
    client: Any,
    publisher: Any,
    make_project: Any,
    mail: str,
    packaging: str,
    quantity: str,
    country: str,
    expected: str,
):
    project = make_project(publisher, packaging=packaging)
    address = {"US": {}, "GB": {"st": "", "zip": "SW1A 1AA"}, "CA": {"st": "ON", "zip": "K1A 0B1"}}
    reply = submit(
        client,
        **order_fields(
            publisher,
            project,
            typeMailMethod=mail,
            quantity=quantity,
            country=country,
            Invoice="SHIP-1",
            **address[country],
        ),
    )
    assert reply["ShippingMethod"] == expected
    assert Order.objects.get().shipping_method == expected
    [section] = status(client, ["SHIP-1"], publisher=publisher)
    assert section["ShippingMethod"] == expected


def test_standard_with_mixed_packaging_is_a_parcel(client: Any, publisher: Any, make_project: Any):
    sleeve = make_project(publisher, packaging="sleeve")
    case = make_project(publisher, packaging="jewel-case")
    order = placed(client, **order_fields(publisher, sleeve, case, typeMailMethod="standard"))
    assert order.shipping_method == "standard+tracking"


@pytest.mark.parametrize("mail", ["bogus", "first-class", "standard tracking", "ups"])
def test_invalid_mail_method(client: Any, publisher: Any, project: Any, mail: str):
    refuse(client, "000041", **order_fields(publisher, project, typeMailMethod=mail))


# --- address ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "code"),
    [("name", "000013"), ("addr", "000014"), ("city", "000015")],
)
@pytest.mark.parametrize("value", [None, "", "   "])
def test_required_address_field_blank(
    *, client: Any, publisher: Any, project: Any, field: str, code: str, value: str | None
):
    refuse(client, code, **order_fields(publisher, project, **{field: value}))


@pytest.mark.parametrize(
    ("country", "st"), [("US", "MN"), ("", "MN"), ("CA", "ON"), ("Canada", "Ontario")]
)
@pytest.mark.parametrize("zip_code", [None, "", "  "])
def test_zip_required_for_us_and_canada(
    *, client: Any, publisher: Any, project: Any, country: str, st: str, zip_code: str | None
):
    refuse(
        client, "000016", **order_fields(publisher, project, country=country, st=st, zip=zip_code)
    )


def test_zip_optional_elsewhere(client: Any, publisher: Any, project: Any):
    order = placed(client, **order_fields(publisher, project, country="IE", st="", zip=""))
    assert (order.country, order.postal_code) == ("IE", "")


@pytest.mark.parametrize(
    ("given", "expected", "st"),
    [
        (None, "US", "MN"),
        ("", "US", "MN"),
        ("  ", "US", "MN"),
        ("US", "US", "MN"),
        ("us", "US", "MN"),
        ("United States", "US", "MN"),
        ("UK", "GB", ""),
        ("uk", "GB", ""),
        ("GB", "GB", ""),
        ("UniTed KINGdom", "GB", ""),
        ("Great Britain", "GB", ""),
        ("IT", "IT", ""),
        ("Italy", "IT", ""),
        ("Germany", "DE", ""),
        ("CA", "CA", "ON"),
    ],
)
def test_country_normalized(
    *, client: Any, publisher: Any, project: Any, given: str | None, expected: str, st: str
):
    order = placed(client, **order_fields(publisher, project, country=given, st=st))
    assert order.country == expected


@pytest.mark.parametrize("country", ["IT (Italy)", "Narnia", "XX", "US United States"])
def test_country_not_recognized(client: Any, publisher: Any, project: Any, country: str):
    refuse(client, "000017", **order_fields(publisher, project, country=country, st=""))


@pytest.mark.parametrize(("country", "zip_code"), [("US", "55401"), ("CA", "K1A 0B1")])
@pytest.mark.parametrize("st", [None, "", "  "])
def test_state_required_for_us_and_canada(
    *, client: Any, publisher: Any, project: Any, country: str, zip_code: str, st: str | None
):
    refuse(
        client, "000018", **order_fields(publisher, project, country=country, zip=zip_code, st=st)
    )


@pytest.mark.parametrize(
    ("country", "st", "expected"),
    [
        ("US", "MN", "MN"),
        ("US", "mn", "MN"),
        ("US", "Minnesota", "MN"),
        ("US", "minnesota", "MN"),
        ("US", " MINNESOTA ", "MN"),
        ("US", "New York", "NY"),
        ("CA", "ON", "ON"),
        ("CA", "Ontario", "ON"),
        ("CA", "british columbia", "BC"),
        ("GB", "", ""),
        ("GB", "Greater London", "Greater London"),
    ],
)
def test_state_normalized(
    *, client: Any, publisher: Any, project: Any, country: str, st: str, expected: str
):
    order = placed(client, **order_fields(publisher, project, country=country, st=st))
    assert order.state == expected


@pytest.mark.parametrize(
    ("country", "st"),
    [("US", "MN Minnesota"), ("US", "Minnesota MN"), ("US", "Narnia"), ("US", "ON"), ("CA", "MN")],
)
def test_state_not_recognized(client: Any, publisher: Any, project: Any, country: str, st: str):
    refuse(client, "000018", **order_fields(publisher, project, country=country, st=st))


@pytest.mark.parametrize(
    ("field", "limit", "extra"),
    [
        ("name", 100, {}),
        ("co", 100, {}),
        ("addr", 200, {}),
        ("city", 100, {}),
        ("zip", 20, {}),
        ("st", 60, {"country": "GB"}),
    ],
)
def test_field_too_long(
    *, client: Any, publisher: Any, project: Any, field: str, limit: int, extra: dict[str, str]
):
    placed(client, **order_fields(publisher, project, **{field: "a" * limit}, **extra))
    refuse(
        client, "000019", **order_fields(publisher, project, **{field: "a" * (limit + 1)}, **extra)
    )


@pytest.mark.parametrize("field", ["SpecialText", "email", "Invoice", "unknownfield", "st"])
def test_any_field_over_2000_characters(client: Any, publisher: Any, project: Any, field: str):
    refuse(
        client, "000019", **order_fields(publisher, project, country="GB", **{field: "a" * 2001})
    )


def test_state_over_100_characters_is_too_long(client: Any, publisher: Any, project: Any):
    refuse(client, "000019", **order_fields(publisher, project, country="GB", st="a" * 101))


def test_address_whitespace_is_collapsed(client: Any, publisher: Any, project: Any):
    order = placed(
        client,
        **order_fields(publisher, project, name="  John   Smith ", addr="1  Main\tSt", co=" A  B "),
    )
    assert (order.name, order.address, order.company) == ("John Smith", "1 Main St", "A B")


@pytest.mark.parametrize(
    "email", ["not-an-email", "a@b", "a b@example.com", "@example.com", "bob@"]
)
def test_invalid_email(client: Any, publisher: Any, project: Any, email: str):
    refuse(client, "000020", **order_fields(publisher, project, email=email))


@pytest.mark.parametrize("email", [None, "", "bob@example.com", " Bob@Example.com "])
def test_valid_or_blank_email(client: Any, publisher: Any, project: Any, email: str | None):
    order = placed(client, **order_fields(publisher, project, email=email))
    assert order.email == (email or "").strip()


# --- SpecialText, nprice, flags -------------------------------------------------------------------


def test_special_text_of_500_characters(client: Any, publisher: Any, project: Any):
    order = placed(client, **order_fields(publisher, project, SpecialText="s" * 500))
    assert order.special_text == "s" * 500


def test_special_text_of_501_characters(client: Any, publisher: Any, project: Any):
    refuse(client, "000037", **order_fields(publisher, project, SpecialText="s" * 501))


@pytest.mark.parametrize(
    "text", ["<b>hi</b>", "see <a href='x'>here</a>", "<br/>", "x</p>", "<!-- c -->", "<?php x ?>"]
)
def test_special_text_with_html(client: Any, publisher: Any, project: Any, text: str):
    refuse(client, "000038", **order_fields(publisher, project, SpecialText=text))


@pytest.mark.parametrize(
    "text", ["a < b", "3<4", "a > b & c", "<3 you", "code: 123-45 <>", "< b >"]
)
def test_special_text_with_angle_brackets_but_no_html(
    client: Any, publisher: Any, project: Any, text: str
):
    order = placed(client, **order_fields(publisher, project, SpecialText=text))
    assert order.special_text == text


def test_special_text_keeps_line_breaks(client: Any, publisher: Any, project: Any):
    order = placed(client, **order_fields(publisher, project, SpecialText="Code:\r\n123\tA"))
    assert order.special_text == "Code:\r\n123\tA"


@pytest.mark.parametrize(
    ("nprice", "expected"),
    [
        (None, None),
        ("", None),
        ("12.5", Decimal("12.50")),
        ("$9.99", Decimal("9.99")),
        ("0", Decimal("0.00")),
        ("19.95", Decimal("19.95")),
        ("1234.50", Decimal("1234.50")),
        ("099.90", Decimal("99.90")),
        ("99999.99", Decimal("99999.99")),
        (" 7 ", Decimal("7.00")),
    ],
)
def test_nprice(
    client: Any, publisher: Any, project: Any, nprice: str | None, expected: Decimal | None
):
    order = placed(client, **order_fields(publisher, project, nprice=nprice))
    order.refresh_from_db()
    assert order.customer_price == expected


@pytest.mark.parametrize(
    "nprice",
    [
        "abc",
        "-1",
        "$-1",
        "1e3",
        "NaN",
        "Infinity",
        "100000",
        "99999.999",
        "1.2.3",
        ".",
        # Read two ways, so refused rather than guessed (19,95 was stored as $1,995.00):
        "19,95",
        "1,234.50",
        "0.001",
        "١٢",  # Arabic-Indic digits, which Decimal() reads as 12
        "12.",
        ".5",
        "$ 5",
        "+5",
        "5 00",
    ],
)
def test_invalid_nprice(client: Any, publisher: Any, project: Any, nprice: str):
    message = refuse(client, "000042", **order_fields(publisher, project, nprice=nprice))
    assert "at most two decimals, such as 19.95" in message
    assert not Order.objects.exists()


@pytest.mark.parametrize(
    ("value", "customs", "notify"),
    [
        (None, False, None),
        ("", False, None),
        ("1", True, True),
        ("0", False, False),
        ("true", True, True),
        ("no", False, False),
    ],
)
def test_yes_no_flags(
    *,
    client: Any,
    publisher: Any,
    project: Any,
    value: str | None,
    customs: bool,
    notify: bool | None,
):
    order = placed(
        client,
        **order_fields(
            publisher, project, bUsePriceOnCustomsForm=value, bSendOrderNotificationEmail=value
        ),
    )
    order.refresh_from_db()
    assert order.use_price_on_customs_form is customs
    assert order.send_notification_email is notify


def test_flags_are_independent(client: Any, publisher: Any, project: Any):
    order = placed(
        client,
        **order_fields(
            publisher, project, bUsePriceOnCustomsForm="1", bSendOrderNotificationEmail="0"
        ),
    )
    order.refresh_from_db()
    assert (order.use_price_on_customs_form, order.send_notification_email) == (True, False)


@pytest.mark.parametrize("field", ["bUsePriceOnCustomsForm", "bSendOrderNotificationEmail"])
@pytest.mark.parametrize("value", ["maybe", "2", "-1"])
def test_invalid_flag(client: Any, publisher: Any, project: Any, field: str, value: str):
    refuse(client, "000043", **order_fields(publisher, project, **{field: value}))


# --- source, ordermethod, credentials -----------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "ordermethod"),
    [
        (None, "url"),
        ("", "url"),
        ("shopify", "url"),
        ("cdfulfil", "url"),
        ("cdfulfill", None),
        ("cdfulfill", ""),
        ("cdfulfill", "cart"),
        (None, None),
    ],
)
def test_source_and_ordermethod(
    client: Any, publisher: Any, project: Any, source: str | None, ordermethod: str | None
):
    message = refuse(
        client, "000002", **order_fields(publisher, project, source=source, ordermethod=ordermethod)
    )
    assert message.startswith("Invalid access or source variable value.")
    if source not in (None, "", "cdfulfill"):
        assert f"'{source}'" in message


def test_source_and_ordermethod_in_any_case(client: Any, publisher: Any, project: Any):
    placed(client, **order_fields(publisher, project, source="CDFulfill", ordermethod="URL"))


@pytest.mark.parametrize(
    ("email", "password"),
    [(None, PASSWORD), ("", PASSWORD), ("me", None), ("me", ""), (None, None)],
)
def test_credentials_missing(
    client: Any, publisher: Any, project: Any, email: str | None, password: str | None
):
    refuse(
        client,
        "000503",
        **order_fields(
            publisher,
            project,
            CoLoginEmail=publisher.email if email == "me" else email,
            CoLoginPassword=password,
        ),
    )


@pytest.mark.parametrize(
    ("email", "password"),
    [("me", "wrong password"), ("me", PASSWORD.upper()), ("nobody@example.com", PASSWORD)],
)
def test_credentials_wrong(client: Any, publisher: Any, project: Any, email: str, password: str):
    refuse(
        client,
        "000601",
        **order_fields(
            publisher,
            project,
            CoLoginEmail=publisher.email if email == "me" else email,
            CoLoginPassword=password,
        ),
    )


def test_login_email_in_any_case(client: Any, publisher: Any, project: Any):
    placed(client, **order_fields(publisher, project, CoLoginEmail=publisher.email.upper()))


# --- request hygiene ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "encoded"),
    [
        ("name", "Jo%00hn"),
        ("addr", "1%01Main"),
        ("city", "%1BParis"),
        ("SpecialText", "a%7Fb"),
        ("Invoice", "A%0B1"),
    ],
)
@pytest.mark.parametrize("where", ["query", "body"])
def test_control_characters(
    *, client: Any, publisher: Any, project: Any, field: str, encoded: str, where: str
):
    fields = order_fields(publisher, project, **{field: None})
    raw = urlencode(fields)
    extra = f"{field}={encoded}"
    with nothing_written():
        if where == "query":
            reply = submit(client, query=extra, body=raw)
        else:
            reply = submit(client, body=raw + "&" + extra)
    assert reply["ERRCODE"] == "000045"


def test_body_over_64_kb(client: Any, publisher: Any, project: Any):
    raw = urlencode(order_fields(publisher, project))
    padding = "&" + "&".join(f"pad{i}={'p' * 1000}" for i in range(70))
    assert len(raw + padding) > 65536
    with nothing_written():
        reply = submit(client, body=raw + padding)
    assert reply["ERRCODE"] == "000046"


def test_query_string_over_64_kb(client: Any, publisher: Any, project: Any):
    padding = "&".join(f"pad{i}={'p' * 1000}" for i in range(70))
    with nothing_written():
        reply = submit(client, method="get", query=padding, **order_fields(publisher, project))
    assert reply["ERRCODE"] == "000046"


def test_body_just_under_64_kb_is_read(client: Any, publisher: Any, project: Any):
    # One field over 2,000 characters is refused, so the padding is split.
    raw = urlencode(order_fields(publisher, project)) + "".join(
        f"&pad{i}={'p' * 1500}" for i in range(42)
    )
    assert len(raw) <= 65536
    assert submit(client, body=raw)["SUCCESS"]


# --- reply format ---------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["get", "post"])
def test_success_reply(client: Any, publisher: Any, three_projects: list[Any], method: str):
    fields = order_fields(
        publisher, *three_projects, quantity="1x3x2", Invoice="R-1", typeMailMethod="priority"
    )
    if method == "get":
        response = client.get(ORDER_URL + "?" + urlencode(fields))
    else:
        response = client.post(ORDER_URL, fields)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    body = response.content.decode()
    order = Order.objects.get()
    # 4.50 x 6 = 27.00; priority domestic 9.50 + 5 x 1.00 = 14.50
    assert body == (
        "[SUCCESS]\n"
        f"Order: {order.id}\n"
        "Invoice: R-1\n"
        "Mode: prod\n"
        "Status: PROCESSING\n"
        "Products: 66750x66760x66770\n"
        "Quantities: 1x3x2\n"
        "ShippingMethod: priority\n"
        "Total: $41.50\n"
    )


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize(
    "overrides",
    [{"name": ""}, {"source": "x"}, {"CoLoginPassword": "nope"}, {"productid": "1xx2"}],
)
def test_failure_reply(
    client: Any, publisher: Any, project: Any, method: str, overrides: dict[str, str]
):
    fields = order_fields(publisher, project, **overrides)
    with nothing_written():
        if method == "get":
            response = client.get(ORDER_URL + "?" + urlencode(fields))
        else:
            response = client.post(ORDER_URL, fields)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    body = response.content.decode()
    assert FAILURE.fullmatch(body), body
    assert body.count("[ERRORMSGBEGIN]") == 1
    assert body.count("[ERRORMSGEND]") == 1
    assert "\n" not in body
    assert "[SUCCESS]" not in body


def test_failure_message_cannot_forge_the_markers(client: Any, publisher: Any, project: Any):
    fields = order_fields(publisher, project, Invoice="X[ERRORMSGEND]")
    placed(client, **fields)
    message = refuse(client, "000035", **fields)
    assert "[ERRORMSGEND]" not in message
