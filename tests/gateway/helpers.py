"""Small helpers for driving the gateway through Django's test client.

`submit` and `status` also check the parts of the reply format every call must respect
(HTTP 200, content type, the failure line's exact shape), so every test checks them too.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from tests.conftest import PASSWORD

ORDER_URL = "/gateway/order"
STATUS_URL = "/gateway/status"
FORM = "application/x-www-form-urlencoded"
FAILURE = re.compile(r"^\[ERRORMSGBEGIN\]ERRCODE#(\d{6}) \[FAILURE\] (.+)\[ERRORMSGEND\]$", re.S)
STATUS_FIELDS = (
    "ErrorNum",
    "ErrorDesc",
    "CustName",
    "Invoice",
    "OrderStatus",
    "OrderStatusErrNum",
    "OrderStatusErrDesc",
    "ShipDate",
    "ShippingMethod",
    "TrackingID",
)


def order_fields(publisher: Any, *projects: Any, **overrides: Any) -> dict[str, Any]:
    """A valid SubmitProductOrder request for `projects`; `overrides` replace or add fields
    (a value of None leaves the field out)."""
    fields: dict[str, Any] = {
        "source": "cdfulfill",
        "ordermethod": "url",
        "CoLoginEmail": publisher.email,
        "CoLoginPassword": PASSWORD,
        "productid": "x".join(str(project.id) for project in projects),
        "mode": "prod",
        "name": "John H. Smith",
        "addr": "123 Some Street, Apt 123",
        "city": "Minneapolis",
        "st": "MN",
        "zip": "55401",
        "country": "US",
    }
    fields.update(overrides)
    return {key: value for key, value in fields.items() if value is not None}


def parse_submit_reply(response: Any) -> dict[str, Any]:
    """`[SUCCESS]` summary lines as a dict (plus "SUCCESS": True), or
    {"SUCCESS": False, "ERRCODE": "nnnnnn", "message": "..."}."""
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    body = response.content.decode("utf-8")
    if body.startswith("[SUCCESS]"):
        reply: dict[str, Any] = {"SUCCESS": True}
        for line in body.splitlines()[1:]:
            if line:
                key, _, value = line.partition(": ")
                reply[key] = value
        return reply
    match = FAILURE.fullmatch(body)
    assert match is not None, f"reply is neither success nor a well-formed failure: {body!r}"
    assert "[SUCCESS]" not in body
    return {"SUCCESS": False, "ERRCODE": match.group(1), "message": match.group(2)}


def submit(
    client: Any,
    *,
    method: str = "post",
    query: str = "",
    body: bytes | str | None = None,
    content_type: str = FORM,
    **fields: Any,
) -> dict[str, Any]:
    """Send SubmitProductOrder and return the parsed reply.

    With `method="get"` the fields go in the query string; with "post" in a URL-encoded body.
    `query` is added to the URL as given (already encoded); `body` replaces the encoded fields.
    """
    encoded = urlencode({k: v for k, v in fields.items() if v is not None})
    if method == "get":
        url = ORDER_URL + "?" + "&".join(part for part in (query, encoded) if part)
        response = client.get(url)
    else:
        url = ORDER_URL + ("?" + query if query else "")
        response = client.post(
            url, data=encoded if body is None else body, content_type=content_type
        )
    return parse_submit_reply(response)


def status(
    client: Any,
    invoices: Sequence[str] | str,
    *,
    publisher: Any = None,
    email: str | None = None,
    password: str | None = PASSWORD,
    function: str | None = "getOrderStatusByInvoice",
    method: str = "get",
) -> list[dict[str, str]]:
    """Call getOrderStatusByInvoice and return one {field: text} dict per StatusN section, in
    order (the dict keeps the fields' order). `invoices` is a list joined with [*|*] or the
    raw Invoice value."""
    invoice = invoices if isinstance(invoices, str) else "[*|*]".join(invoices)
    fields = {
        "function": function,
        "Invoice": invoice,
        "CoLoginEmail": email if email is not None else publisher.email,
        "CoLoginPassword": password,
    }
    data = {k: v for k, v in fields.items() if v is not None}
    if method == "get":
        response = client.get(STATUS_URL, data)
    else:
        response = client.post(STATUS_URL, data=urlencode(data), content_type=FORM)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/xml")
    root = ET.fromstring(response.content)
    sections = []
    for number, element in enumerate(root, start=1):
        assert element.tag == f"Status{number}"
        sections.append({child.tag: child.text or "" for child in element})
    return sections


def snapshot() -> tuple[Any, ...]:
    """Counts of everything an order writes, and every publisher's balance."""
    from pressrun.accounts.models import Publisher
    from pressrun.billing.models import LedgerEntry
    from pressrun.orders.models import Order, OrderEvent, OrderLine

    return (
        Order.objects.count(),
        OrderLine.objects.count(),
        OrderEvent.objects.count(),
        LedgerEntry.objects.count(),
        list(Publisher.objects.order_by("id").values_list("id", "balance")),
    )


@contextmanager
def nothing_written() -> Iterator[None]:
    before = snapshot()
    yield
    after = snapshot()
    assert after == before, f"something was written: {before} -> {after}"


def refuse(client: Any, code: str, **fields: Any) -> str:
    """Submit, check the order is refused with `code` and nothing was written; the message."""
    with nothing_written():
        reply = submit(client, **fields)
    assert reply.get("ERRCODE") == code, reply
    return str(reply["message"])


def balance(publisher: Any) -> Decimal:
    publisher.refresh_from_db()
    return Decimal(publisher.balance)
