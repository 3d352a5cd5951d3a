"""One-line fields stay one line (core/text.py).

Before: a line break in `Invoice` was accepted and echoed in the `[SUCCESS]` reply, where a
line such as "Status: SHIPPED" preceded the real one. The gateway now refuses line breaks in
every field but SpecialText (000044); intake refuses them in an invoice from any channel; the
dashboard's and the customer page's one-line inputs refuse them; the carts, which cannot be
asked to send again, have theirs made one line.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from django.test import Client

from pressrun.carts.payload import text
from pressrun.orders.models import Order
from pressrun.orders.requests import LineRequest, OrderRequest, RecipientRequest
from pressrun.orders.services import OrderRefused, Refusal, order_place
from tests.gateway.helpers import nothing_written, order_fields, status, submit

pytestmark = pytest.mark.django_db

ONE_LINE_FIELDS = [
    "Invoice",
    "name",
    "co",
    "addr",
    "city",
    "st",
    "zip",
    "country",
    "email",
    "mode",
    "typeMailMethod",
    "nprice",
    "productid",
    "quantity",
    "CoLoginEmail",
    "source",
]
# CR, LF, CRLF, NEL, LINE SEPARATOR, PARAGRAPH SEPARATOR (percent-encoded UTF-8).
LINE_BREAKS = ["%0A", "%0D", "%0D%0A", "%C2%85", "%E2%80%A8", "%E2%80%A9"]


@pytest.fixture
def publisher(make_publisher: Any) -> Any:
    return make_publisher(balance="100")


@pytest.fixture
def project(make_project: Any, publisher: Any) -> Any:
    return make_project(publisher, price=Decimal("4.50"))


def test_the_forged_status_line_of_the_issue_is_refused(
    client: Any, publisher: Any, project: Any
) -> None:
    fields = order_fields(publisher, project, Invoice=None)
    body = urlencode(fields) + "&Invoice=" + quote("A-1\nStatus: SHIPPED")
    with nothing_written():
        reply = submit(client, body=body)
    assert reply == {
        "SUCCESS": False,
        "ERRCODE": "000044",
        "message": "A one-line field contains a line break. Field 'invoice'. Only SpecialText "
        "may have several lines.",
    }


@pytest.mark.parametrize("field", ONE_LINE_FIELDS)
@pytest.mark.parametrize("line_break", LINE_BREAKS)
@pytest.mark.parametrize("where", ["query", "body"])
def test_a_line_break_in_a_one_line_field_is_000044(
    client: Any, publisher: Any, project: Any, *, field: str, line_break: str, where: str
) -> None:
    fields = order_fields(publisher, project, **{field: None})
    value = {"Invoice": "INV-9", "email": "ann@example.com", "source": "cdfulfill"}.get(field, "x")
    extra = f"{field}={quote(value)}{line_break}"
    with nothing_written():
        if where == "query":
            reply = submit(client, query=extra, body=urlencode(fields))
        else:
            reply = submit(client, body=urlencode(fields) + "&" + extra)
    assert reply["ERRCODE"] == "000044", reply
    assert f"Field '{field.lower()}'." in reply["message"]


def test_a_line_break_in_a_field_name_is_000044(client: Any, publisher: Any, project: Any) -> None:
    body = urlencode(order_fields(publisher, project)) + "&Inv%0Aoice=1"
    with nothing_written():
        reply = submit(client, body=body)
    assert reply["ERRCODE"] == "000044"


@pytest.mark.parametrize("control", ["%00", "%1B", "%7F", "%C2%80", "%C2%9F"])
def test_other_control_characters_stay_000045(
    client: Any, publisher: Any, project: Any, control: str
) -> None:
    body = urlencode(order_fields(publisher, project, Invoice=None)) + f"&Invoice=A{control}1"
    with nothing_written():
        reply = submit(client, body=body)
    assert reply["ERRCODE"] == "000045"


def test_special_text_keeps_its_lines_and_tabs_are_allowed(
    client: Any, publisher: Any, project: Any
) -> None:
    body = urlencode(
        order_fields(
            publisher,
            project,
            Invoice="TAB\t1",
            SpecialText="Line one\r\nLine two\u2028three",
        )
    )
    reply = submit(client, body=body)
    assert reply["SUCCESS"] is True, reply
    order = Order.objects.get()
    assert (order.invoice, order.special_text) == ("TAB\t1", "Line one\r\nLine two\u2028three")


def test_the_status_call_refuses_a_line_break_in_the_invoice_list(
    client: Any, publisher: Any
) -> None:
    (section,) = status(client, "A-1\r\nB-2", publisher=publisher)
    assert section["ErrorNum"] == "400"
    assert section["ErrorDesc"].startswith("[ERRORMSGBEGIN]ERRCODE#000044 [FAILURE]")


# --- intake, for every channel -------------------------------------------------------------


def request_with_invoice(publisher: Any, project: Any, invoice: str) -> OrderRequest:
    return OrderRequest(
        publisher_id=publisher.id,
        lines=(LineRequest(project_id=project.id, quantity=1),),
        recipient=RecipientRequest(
            name="Ann", address="1 Main St", city="Austin", state="TX", postal_code="78701"
        ),
        mode="prod",
        source="dashboard",
        invoice=invoice,
    )


@pytest.mark.parametrize("invoice", ["A\nB", "A\rB", "A\u2028B", "A\x85B", "A\x00B", "A\x9bB"])
def test_intake_refuses_an_invoice_that_is_not_one_line(
    publisher: Any, project: Any, invoice: str
) -> None:
    with nothing_written(), pytest.raises(OrderRefused) as refused:
        order_place(request=request_with_invoice(publisher, project, invoice), publisher=publisher)
    assert refused.value.reason == Refusal.LINE_BREAK
    assert refused.value.message == (
        "Invoice must be one line, without line breaks or control characters."
    )


def test_the_dashboard_refuses_a_line_break_in_a_one_line_input(
    publisher: Any, project: Any
) -> None:
    client = Client()
    client.post("/sign-in", {"email": publisher.email, "password": "correct horse battery"})
    form = {
        "name": "Ann",
        "company": "",
        "address": "1 Main St\nStatus: SHIPPED",
        "city": "Austin",
        "state": "TX",
        "postal_code": "78701",
        "country": "US",
        "email": "",
        "invoice": "INV\r\n1",
        "mode": "prod",
        "mail_method": "standard",
        "special_text": "",
        "customer_price": "",
        "project_1": str(project.id),
        "quantity_1": "1",
    }
    with nothing_written():
        response = client.post("/orders/new", form)
    page = response.content.decode()
    assert response.status_code == 400, page[:500]
    assert page.count("Enter one line, without line breaks or control characters.") == 2


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Ann\nBuyer", "Ann Buyer"),
        ("  Ann\r\n\tBuyer  ", "Ann Buyer"),
        ("Ann\u2028Buyer", "Ann Buyer"),
        ("Ann\x00Buyer", "Ann Buyer"),
        ("Ann\x1bBuyer\x7f", "Ann Buyer"),
        ("#1040\nStatus: SHIPPED", "#1040 Status: SHIPPED"),
        (1040, "1040"),
    ],
)
def test_a_carts_one_line_value_is_made_one_line(value: Any, expected: str) -> None:
    assert text(value) == expected
