"""A shipping station against the real server process over HTTP with Basic auth: created
with `pressrun createwarehouse`, it pulls a paid gateway order in the Custom Store XML,
posts the ShipNotice back, and the gateway's status call answers SHIPPED with the ShipDate
and TrackingID; wrong credentials get 401 and change nothing."""

from __future__ import annotations

import base64
import re
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest

from tests.e2e.test_fulfillment_http import create_publisher, order_state
from tests.e2e.test_gateway_http import STATUS, place, sections, send, status_fields
from tests.live import LiveService

pytestmark = pytest.mark.e2e

ENDPOINT = "/warehouses/shipstation"


def call(
    service: LiveService,
    query: dict[str, str],
    *,
    username: str,
    password: str,
    body: bytes | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One request as ShipStation sends it; (status, headers by lower-case name, body)."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    request = urllib.request.Request(
        service.url(f"{ENDPOINT}?{urlencode(query)}"),
        data=body,
        method="POST" if body is not None else "GET",
        headers={"Authorization": f"Basic {token}", "Content-Type": "application/xml"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return (
                response.status,
                {k.lower(): v for k, v in response.headers.items()},
                response.read(),
            )
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def test_a_station_pulls_an_order_and_posts_its_tracking_back(live_service: LiveService) -> None:
    service = live_service
    output = service.pressrun("createwarehouse", "--name", "E2E station").strip()
    match = re.fullmatch(r"id=(\d+) username=(\S+) password=(\S+)", output)
    assert match, output
    station_id, username, password = match.groups()

    account = create_publisher(service, "--postage-delay-hours", "0")
    invoice = service.unique("SS")
    order_id = place(service, account, invoice)

    # Export: the order is ready at once (no postage window), in the Custom Store XML.
    now = datetime.now(UTC)
    window = {
        "action": "export",
        "start_date": (now - timedelta(minutes=5)).strftime("%m/%d/%Y %H:%M"),
        "end_date": (now + timedelta(minutes=5)).strftime("%m/%d/%Y %H:%M"),
    }
    # The order is handed to shipping once the worker's address check has passed: poll, as
    # ShipStation does.
    found = None
    deadline = time.monotonic() + 30
    while found is None and time.monotonic() < deadline:
        page, pages = 1, 1
        while page <= pages and found is None:
            status, headers, body = call(
                service, {**window, "page": str(page)}, username=username, password=password
            )
            assert status == 200, body
            assert headers["content-type"] == "application/xml; charset=utf-8"
            root = ET.fromstring(body)
            assert root.tag == "Orders"
            pages = int(root.attrib["pages"])
            found = next(
                (element for element in root if element.findtext("OrderID") == order_id), None
            )
            page += 1
        if found is None:
            time.sleep(0.2)
    assert found is not None
    assert found.findtext("OrderNumber") == invoice
    assert found.findtext("OrderStatus") == "ready"
    assert found.findtext("Customer/ShipTo/Name") == "John H. Smith"
    assert [item.findtext("Quantity") for item in found.iter("Item")] == ["1"]

    # Wrong credentials: 401 with the challenge, nothing changes.
    today = datetime.now(UTC).strftime("%m/%d/%Y")
    notice = (
        '<?xml version="1.0" encoding="utf-8"?><ShipNotice>'
        f"<OrderNumber>{invoice}</OrderNumber><OrderID>{order_id}</OrderID>"
        f"<ShipDate>{today}</ShipDate><Carrier>USPS</Carrier><Service>First Class</Service>"
        "<TrackingNumber>9400111899560000000001</TrackingNumber>"
        "<ShippingCost>4.01</ShippingCost></ShipNotice>"
    ).encode()
    notify = {
        "action": "shipnotify",
        "order_number": invoice,
        "carrier": "USPS",
        "service": "",
        "tracking_number": "9400111899560000000001",
    }
    status, headers, body = call(
        service, notify, username=username, password="not the password", body=notice
    )
    assert status == 401
    assert headers["www-authenticate"].startswith('Basic realm="pressrun shipping station"')
    assert order_state(service, order_id)[0].startswith("PROCESSING|")

    # The notice: shipped, once, however often it is posted.
    for reply in (
        "OK Order {} shipped.\n",
        "OK Order {} already had this shipment; nothing changed.\n",
    ):
        status, _, body = call(service, notify, username=username, password=password, body=notice)
        assert (status, body.decode()) == (200, reply.format(order_id))
    state = order_state(service, order_id)
    assert state[0] == "SHIPPED|shipped|4.01"
    assert state[-1] == f"ready|shipped|shipstation:{station_id} E2E station"
    # One shipped move, however often the notice came. (A notice that arrives before the
    # worker's postage-window task has moved the order on records its waiting -> ready step
    # too, by the same station: fulfillment_move, so only the moves to shipped are counted.)
    station = f"shipstation:{station_id} E2E station"
    assert sum(1 for line in state if line.endswith(f"|shipped|{station}")) == 1, state

    [section] = sections(send(service, STATUS, fields=status_fields(account, invoice)))
    assert (section["OrderStatus"], section["ShipDate"], section["TrackingID"]) == (
        "SHIPPED",
        today,
        "9400111899560000000001",
    )
