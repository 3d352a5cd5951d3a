"""getOrderStatusByInvoice rules, driven through the HTTP gateway with Django's test client."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import pytest
from django.db.models import F, Sum

from pressrun.billing.models import LedgerEntry, LedgerKind, StatusCallHour
from pressrun.fulfillment.services import fulfillment_move
from pressrun.fulfillment.states import FULFILLMENT_TABLE
from pressrun.orders.models import Order
from tests.conftest import PASSWORD
from tests.fulfillment.support import bring_to, close_window, flag_address, ship, today
from tests.gateway.helpers import (
    STATUS_FIELDS,
    STATUS_URL,
    balance,
    order_fields,
    status,
    submit,
)

pytestmark = pytest.mark.django_db

NOT_FOUND = "Record Not found. No order of this account has this invoice."
BAD_CREDENTIALS = "Incorrect email or password used as input."
UNKNOWN_FUNCTION = "Unknown function name requested. Valid functions are: getOrderStatusByInvoice."
TEST_DESCRIPTION = (
    "Test order. It was submitted with mode=test and will never be manufactured or shipped."
)


@pytest.fixture
def publisher(make_publisher: Any) -> Any:
    return make_publisher(balance="100")


@pytest.fixture
def project(make_project: Any, publisher: Any) -> Any:
    return make_project(publisher)


def place(client: Any, publisher: Any, project: Any, invoice: str, **overrides: Any) -> Order:
    reply = submit(client, **order_fields(publisher, project, Invoice=invoice, **overrides))
    assert reply["SUCCESS"], reply
    return Order.objects.get(id=int(reply["Order"]))


def blank_section(error_num: int, desc: str, invoice: str) -> dict[str, str]:
    """A section that says nothing about any order."""
    return {
        "ErrorNum": str(error_num),
        "ErrorDesc": desc,
        "CustName": "",
        "Invoice": invoice,
        "OrderStatus": "",
        "OrderStatusErrNum": "",
        "OrderStatusErrDesc": "",
        "ShipDate": "",
        "ShippingMethod": "",
        "TrackingID": "",
    }


def found_section(invoice: str, order_status: str, **values: str) -> dict[str, str]:
    section = {
        "ErrorNum": "0",
        "ErrorDesc": "",
        "CustName": "John H. Smith",
        "Invoice": invoice,
        "OrderStatus": order_status,
        "OrderStatusErrNum": "0",
        "OrderStatusErrDesc": "",
        "ShipDate": "",
        "ShippingMethod": "standard",
        "TrackingID": "",
    }
    section.update(values)
    return section


def charges(publisher: Any) -> list[Decimal]:
    return list(
        LedgerEntry.objects.filter(publisher=publisher, kind=LedgerKind.STATUS_CALL)
        .order_by("id")
        .values_list("amount", flat=True)
    )


# --- sections ----------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["get", "post"])
def test_one_section_per_invoice_in_input_order(
    client: Any, publisher: Any, project: Any, method: str
):
    place(client, publisher, project, "A-1", mode="test")
    place(client, publisher, project, "B-2")
    sections = status(client, ["B-2", "NOPE", "A-1"], publisher=publisher, method=method)
    assert sections == [
        found_section("B-2", "PROCESSING"),
        blank_section(300, NOT_FOUND, "NOPE"),
        found_section("A-1", "ERROR", OrderStatusErrNum="20", OrderStatusErrDesc=TEST_DESCRIPTION),
    ]


def test_fields_are_in_the_spec_order(client: Any, publisher: Any, project: Any):
    place(client, publisher, project, "ORD-1")
    response = client.get(
        STATUS_URL,
        {
            "function": "getOrderStatusByInvoice",
            "Invoice": "ORD-1[*|*]missing",
            "CoLoginEmail": publisher.email,
            "CoLoginPassword": PASSWORD,
        },
    )
    root = ET.fromstring(response.content)
    assert [section.tag for section in root] == ["Status1", "Status2"]
    for section in root:
        assert tuple(child.tag for child in section) == STATUS_FIELDS
        assert all(len(child) == 0 for child in section)


def test_single_invoice_gives_status1(client: Any, publisher: Any, project: Any):
    place(client, publisher, project, "ONLY")
    assert status(client, "ONLY", publisher=publisher) == [found_section("ONLY", "PROCESSING")]


def test_invoices_are_stripped(client: Any, publisher: Any, project: Any):
    place(client, publisher, project, "INV 7")
    sections = status(client, " INV 7 [*|*] INV 7", publisher=publisher)
    assert sections == [found_section("INV 7", "PROCESSING")] * 2


def test_invoice_with_url_encoded_characters(client: Any, publisher: Any, project: Any):
    place(client, publisher, project, "ID 000052 5/16/18")
    response = client.get(
        STATUS_URL + "?function=getOrderStatusByInvoice&Invoice=ID+000052+5%2F16%2F18"
        f"&CoLoginEmail={publisher.email}&CoLoginPassword={PASSWORD.replace(' ', '+')}"
    )
    [section] = ET.fromstring(response.content)
    assert section.findtext("ErrorNum") == "0"
    assert section.findtext("Invoice") == "ID 000052 5/16/18"


@pytest.mark.parametrize(("count", "expected"), [(100, 100), (101, 100), (150, 100)])
def test_at_most_100_invoices(client: Any, publisher: Any, project: Any, count: int, expected: int):
    place(client, publisher, project, "INV-99")
    invoices = [f"INV-{i}" for i in range(count)]
    sections = status(client, invoices, publisher=publisher)
    assert len(sections) == expected
    assert [s["Invoice"] for s in sections] == invoices[:100]
    assert sections[99] == found_section("INV-99", "PROCESSING")
    assert {s["ErrorNum"] for s in sections[:99]} == {"300"}


def test_101st_invoice_is_not_looked_up(client: Any, publisher: Any, project: Any):
    place(client, publisher, project, "LAST")
    sections = status(client, [f"X{i}" for i in range(100)] + ["LAST"], publisher=publisher)
    assert len(sections) == 100
    assert all(s["Invoice"] != "LAST" for s in sections)


# --- error numbers -----------------------------------------------------------------------------


@pytest.mark.parametrize("function", [None, "", "getOrderStatus", "SubmitProductOrder", "x"])
def test_unknown_function(client: Any, publisher: Any, project: Any, function: str | None):
    place(client, publisher, project, "F-1")
    sections = status(client, ["F-1", "F-2"], publisher=publisher, function=function)
    assert sections == [
        blank_section(100, UNKNOWN_FUNCTION, "F-1"),
        blank_section(100, UNKNOWN_FUNCTION, "F-2"),
    ]
    assert not StatusCallHour.objects.exists()


@pytest.mark.parametrize("function", ["getOrderStatusByInvoice", "GETORDERSTATUSBYINVOICE"])
def test_function_name_in_any_case(client: Any, publisher: Any, project: Any, function: str):
    place(client, publisher, project, "F-1")
    sections = status(client, ["F-1"], publisher=publisher, function=function)
    assert sections == [found_section("F-1", "PROCESSING")]


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("me", "wrong password"),
        ("nobody@example.com", PASSWORD),
        ("", PASSWORD),
        ("me", None),
        ("me", ""),
    ],
)
def test_bad_credentials(
    client: Any, publisher: Any, project: Any, email: str, password: str | None
):
    place(client, publisher, project, "C-1")
    before = balance(publisher)
    sections = status(
        client,
        ["C-1", "C-2", "C-3"],
        email=publisher.email if email == "me" else email,
        password=password,
    )
    assert sections == [
        blank_section(200, BAD_CREDENTIALS, "C-1"),
        blank_section(200, BAD_CREDENTIALS, "C-2"),
        blank_section(200, BAD_CREDENTIALS, "C-3"),
    ]
    assert not StatusCallHour.objects.exists()
    assert balance(publisher) == before


def test_unknown_invoice(client: Any, publisher: Any):
    assert status(client, ["NEVER-USED"], publisher=publisher) == [
        blank_section(300, NOT_FOUND, "NEVER-USED")
    ]


def test_another_publishers_invoice_reveals_nothing(
    client: Any, publisher: Any, project: Any, make_publisher: Any, make_project: Any
):
    stranger = make_publisher(balance="100")
    theirs = make_project(stranger)
    place(client, stranger, theirs, "THEIRS", name="Secret Customer")
    place(client, publisher, project, "MINE")
    assert status(client, ["THEIRS", "MINE"], publisher=publisher) == [
        blank_section(300, NOT_FOUND, "THEIRS"),
        found_section("MINE", "PROCESSING"),
    ]
    # ...and the owner still sees it.
    [section] = status(client, ["THEIRS"], publisher=stranger)
    assert section["CustName"] == "Secret Customer"


def test_same_invoice_in_two_accounts(
    client: Any, publisher: Any, project: Any, make_publisher: Any, make_project: Any
):
    stranger = make_publisher(balance="100")
    place(client, stranger, make_project(stranger), "SAME", name="Their Customer")
    place(client, publisher, project, "SAME", name="My Customer", mode="test")
    [section] = status(client, ["SAME"], publisher=publisher)
    assert (section["CustName"], section["OrderStatus"]) == ("My Customer", "ERROR")


@pytest.mark.parametrize(
    ("invoices", "expected"),
    [
        ("[*|*]", ["", ""]),
        ("", [""]),
        ("A[*|*][*|*]B", ["A", "", "B"]),
        ("A[*|*]  [*|*]", ["A", "", ""]),
    ],
)
def test_blank_invoice_entry(
    client: Any, publisher: Any, project: Any, invoices: str, expected: list[str]
):
    place(client, publisher, project, "A")
    place(client, publisher, project, "B")
    sections = status(client, invoices, publisher=publisher)
    assert [s["ErrorNum"] for s in sections] == ["0" if i else "310" for i in expected]
    for invoice, section in zip(expected, sections, strict=True):
        if not invoice:
            assert section == blank_section(310, "Invoice was blank.", "")


def test_missing_invoice_field(client: Any, publisher: Any):
    response = client.get(
        STATUS_URL,
        {
            "function": "getOrderStatusByInvoice",
            "CoLoginEmail": publisher.email,
            "CoLoginPassword": PASSWORD,
        },
    )
    [section] = ET.fromstring(response.content)
    assert section.findtext("ErrorNum") == "310"


# --- order states ------------------------------------------------------------------------------


def test_hold_and_processing(client: Any, make_publisher: Any, make_project: Any):
    publisher = make_publisher(balance="6.00")
    project = make_project(publisher)
    place(client, publisher, project, "PAID")
    place(client, publisher, project, "UNPAID", typeMailMethod="priority")
    assert status(client, ["UNPAID", "PAID"], publisher=publisher) == [
        found_section("UNPAID", "HOLD", ShippingMethod="priority"),
        found_section("PAID", "PROCESSING"),
    ]


def test_test_order_reports_error_20(client: Any, publisher: Any, project: Any):
    place(client, publisher, project, "T-1", mode="test", quantity="2")
    assert status(client, ["T-1"], publisher=publisher) == [
        found_section(
            "T-1",
            "ERROR",
            OrderStatusErrNum="20",
            OrderStatusErrDesc=TEST_DESCRIPTION,
            ShippingMethod="standard+tracking",
        )
    ]


def us_date(day: date) -> str:
    return day.strftime("%m/%d/%Y")


def test_shipped(client: Any, publisher: Any, project: Any):
    order = place(client, publisher, project, "S-1", typeMailMethod="express")
    ship(order, ship_date=today(), tracking_id="9400111899223344556677", carrier="USPS")
    assert status(client, ["S-1"], publisher=publisher) == [
        found_section(
            "S-1",
            "SHIPPED",
            ShipDate=us_date(today()),
            TrackingID="9400111899223344556677",
            ShippingMethod="express",
        )
    ]


def test_shipped_without_tracking_and_a_ship_date_ahead(client: Any, publisher: Any, project: Any):
    # The spec: "Once postage has printed a ShipDate is set, and sometimes this is in the
    # future (tomorrow or next business day for example)".
    order = place(client, publisher, project, "S-2")
    tomorrow = today() + timedelta(days=1)
    ship(order, ship_date=tomorrow)
    assert status(client, ["S-2"], publisher=publisher) == [
        found_section("S-2", "SHIPPED", ShipDate=us_date(tomorrow))
    ]


def test_address_error(client: Any, publisher: Any, project: Any):
    order = place(client, publisher, project, "E-1")
    flag_address(order, "Street   number missing.")
    assert status(client, ["E-1"], publisher=publisher) == [
        found_section(
            "E-1",
            "ERROR",
            OrderStatusErrNum="10",
            OrderStatusErrDesc="Error with address. Street number missing.",
        )
    ]


def test_address_error_corrected_then_shipped(client: Any, publisher: Any, project: Any):
    order = place(client, publisher, project, "E-2")
    close_window(order)
    flag_address(order, "Bad zip")
    fulfillment_move(order_id=order.id, to="ready", actor="operator:t")
    assert status(client, ["E-2"], publisher=publisher) == [found_section("E-2", "PROCESSING")]
    ship(order, tracking_id="LX123")
    [section] = status(client, ["E-2"], publisher=publisher)
    assert section == found_section("E-2", "SHIPPED", ShipDate=us_date(today()), TrackingID="LX123")


# The status call's answer in every physical state, generated from the fulfillment table so
# that a new state cannot be left out: (OrderStatus, OrderStatusErrNum, OrderStatusErrDesc).
EXPECTED_BY_STATE = {
    "waiting": ("PROCESSING", "0", ""),
    "ready": ("PROCESSING", "0", ""),
    "in_production": ("PROCESSING", "0", ""),
    "packed": ("PROCESSING", "0", ""),
    "shipped": ("SHIPPED", "0", ""),
    "address_error": ("ERROR", "10", "Error with address. No such street."),
    "cancelled": ("ERROR", "30", "Order cancelled. The customer asked for a refund."),
}


def test_every_state_has_an_expected_reply() -> None:
    assert set(EXPECTED_BY_STATE) == set(FULFILLMENT_TABLE)


@pytest.mark.parametrize("state", list(FULFILLMENT_TABLE))
def test_status_reply_in_every_physical_state(
    client: Any, publisher: Any, project: Any, state: str
):
    order = place(client, publisher, project, f"P-{state}", typeMailMethod="priority")
    order = bring_to(order, state)
    assert order.fulfillment_state == state
    order_status, err_num, err_desc = EXPECTED_BY_STATE[state]
    shipped = state == "shipped"
    assert status(client, [f"P-{state}"], publisher=publisher) == [
        found_section(
            f"P-{state}",
            order_status,
            OrderStatusErrNum=err_num,
            OrderStatusErrDesc=err_desc,
            ShippingMethod="priority",
            ShipDate=us_date(today()) if shipped else "",
            TrackingID="9400100000000000000001" if shipped else "",
        )
    ]


def test_a_waiting_order_whose_window_ended_reports_processing(
    client: Any, publisher: Any, project: Any
):
    order = place(client, publisher, project, "W-1")
    assert order.fulfillment_state == "waiting"
    close_window(order)  # the window task has not run: still PROCESSING, as every paid state
    assert status(client, ["W-1"], publisher=publisher) == [found_section("W-1", "PROCESSING")]


@pytest.mark.parametrize(
    "name", ['<Tom & "Jerry">', "O'Brien & Sons", "</CustName><x>", "]]> &amp; <![CDATA["]
)
def test_user_text_is_escaped(client: Any, publisher: Any, project: Any, name: str):
    place(client, publisher, project, "<&'\">", name=name)
    assert status(client, ["<&'\">"], publisher=publisher) == [
        found_section("<&'\">", "PROCESSING", CustName=name)
    ]


def test_escaped_tracking_and_error_text(client: Any, publisher: Any, project: Any):
    order = place(client, publisher, project, "X-1")
    flag_address(order, '<Apt> & "unit"')
    [section] = status(client, ["X-1"], publisher=publisher)
    assert section["OrderStatusErrDesc"] == 'Error with address. <Apt> & "unit"'


def test_unknown_invoice_with_markup_is_escaped(client: Any, publisher: Any):
    assert status(client, ["</Invoice></Status1>"], publisher=publisher) == [
        blank_section(300, NOT_FOUND, "</Invoice></Status1>")
    ]


@pytest.mark.parametrize("first", ["test", "prod"])
def test_invoice_of_a_test_and_a_prod_order_reports_prod(
    client: Any, publisher: Any, project: Any, first: str
):
    second = "prod" if first == "test" else "test"
    place(client, publisher, project, "BOTH", mode=first, name=f"{first} customer")
    place(client, publisher, project, "BOTH", mode=second, name=f"{second} customer")
    assert status(client, ["BOTH"], publisher=publisher) == [
        found_section("BOTH", "PROCESSING", CustName="prod customer")
    ]


def test_invoice_of_two_products_reports_the_newest(
    client: Any, publisher: Any, project: Any, make_project: Any
):
    place(client, publisher, project, "TWO", name="First")
    newer = place(client, publisher, make_project(publisher), "TWO", name="Second")
    ship(newer)
    [section] = status(client, ["TWO"], publisher=publisher)
    assert (section["CustName"], section["OrderStatus"]) == ("Second", "SHIPPED")


def test_status_request_with_control_characters(client: Any, publisher: Any):
    response = client.get(
        STATUS_URL
        + "?"
        + urlencode(
            {
                "function": "getOrderStatusByInvoice",
                "Invoice": "A\x00B",
                "CoLoginEmail": publisher.email,
                "CoLoginPassword": PASSWORD,
            }
        )
    )
    assert response.status_code == 200
    [section] = ET.fromstring(response.content)
    assert section.findtext("ErrorNum") == "400"
    assert not StatusCallHour.objects.exists()


# --- metering ----------------------------------------------------------------------------------


def test_calls_over_the_free_allowance_cost_one_cent(
    client: Any, publisher: Any, project: Any, settings: Any
):
    settings.STATUS_CALLS_FREE_PER_DAY = 3
    place(client, publisher, project, "M-1")
    start = balance(publisher)
    for _ in range(3):
        assert status(client, ["M-1"], publisher=publisher)[0]["ErrorNum"] == "0"
    assert charges(publisher) == []
    assert balance(publisher) == start
    status(client, ["M-1"], publisher=publisher)
    assert charges(publisher) == [Decimal("-0.01")]
    assert balance(publisher) == start - Decimal("0.01")
    status(client, ["M-1", "M-2", "M-3"], publisher=publisher)
    assert charges(publisher) == [Decimal("-0.01"), Decimal("-0.01")]
    assert balance(publisher) == start - Decimal("0.02")
    assert StatusCallHour.objects.aggregate(calls=Sum("calls"), charged=Sum("charged")) == {
        "calls": 5,
        "charged": 2,
    }


def test_calls_older_than_24_hours_do_not_count(client: Any, publisher: Any, settings: Any):
    settings.STATUS_CALLS_FREE_PER_DAY = 3
    for _ in range(3):
        status(client, ["X"], publisher=publisher)
    # As if made in an hour that ended over 24 hours ago.
    StatusCallHour.objects.update(hour_start=F("hour_start") - timedelta(hours=25))
    start = balance(publisher)
    for _ in range(3):
        status(client, ["X"], publisher=publisher)
    assert charges(publisher) == []
    status(client, ["X"], publisher=publisher)
    assert charges(publisher) == [Decimal("-0.01")]
    assert balance(publisher) == start - Decimal("0.01")


def test_failed_calls_are_not_counted(client: Any, publisher: Any, settings: Any):
    settings.STATUS_CALLS_FREE_PER_DAY = 3
    for _ in range(3):
        assert status(client, ["X"], publisher=publisher, password="wrong")[0]["ErrorNum"] == "200"
        assert status(client, ["X"], publisher=publisher, function="nope")[0]["ErrorNum"] == "100"
    for _ in range(3):
        status(client, ["X"], publisher=publisher)
    assert charges(publisher) == []
    assert balance(publisher) == Decimal("100.00")
    status(client, ["X"], publisher=publisher)
    assert charges(publisher) == [Decimal("-0.01")]


def test_calls_are_counted_per_publisher(
    client: Any, publisher: Any, make_publisher: Any, settings: Any
):
    settings.STATUS_CALLS_FREE_PER_DAY = 2
    other = make_publisher(balance="5")
    for _ in range(2):
        status(client, ["X"], publisher=publisher)
        status(client, ["X"], publisher=other)
    assert charges(publisher) == charges(other) == []
    status(client, ["X"], publisher=other)
    assert charges(publisher) == []
    assert charges(other) == [Decimal("-0.01")]
    assert balance(other) == Decimal("4.99")


def test_charge_can_take_the_balance_below_zero(client: Any, make_publisher: Any, settings: Any):
    settings.STATUS_CALLS_FREE_PER_DAY = 1
    publisher = make_publisher()
    status(client, ["X"], publisher=publisher)
    status(client, ["X"], publisher=publisher)
    assert balance(publisher) == Decimal("-0.01")
    assert charges(publisher) == [Decimal("-0.01")]
