"""1ShoppingCart XML: notifications and API replies, read safely and liberally."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pressrun.carts.oneshoppingcart import parse
from pressrun.core.text import one_line
from tests.carts.oneshoppingcart_emulator import Client, Emulator, Order, _client_xml


def test_a_new_order_notification_gives_its_token() -> None:
    note = parse.parse_notification(b"<NewOrder><Token>81234567</Token></NewOrder>")
    assert (note.event, note.token, note.is_new_order) == ("NewOrder", "81234567", True)


def test_names_are_matched_in_any_case_and_namespace() -> None:
    body = b'<n:neworder xmlns:n="urn:x"><n:TOKEN> 42 </n:TOKEN></n:neworder>'
    note = parse.parse_notification(body)
    assert (note.event, note.token, note.is_new_order) == ("neworder", "42", True)


def test_another_event_is_not_a_new_order() -> None:
    note = parse.parse_notification(b"<TestNotification><Token>1</Token></TestNotification>")
    assert note.is_new_order is False


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   ",
        b"not xml",
        b"<NewOrder>",
        b"<NewOrder/>",
        b"<NewOrder><Token></Token></NewOrder>",
        b"<NewOrder><Token>" + b"9" * 51 + b"</Token></NewOrder>",
        b"<NewOrder><Token>1 OR 1=1</Token></NewOrder>",
        b'<!DOCTYPE x [<!ENTITY a "1">]><NewOrder><Token>&a;</Token></NewOrder>',
    ],
)
def test_what_is_not_a_notification_is_refused(body: bytes) -> None:
    with pytest.raises(parse.PayloadInvalid):
        parse.parse_notification(body)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_parse_or_raise_payload_invalid(body: bytes) -> None:
    try:
        note = parse.parse_notification(body)
    except parse.PayloadInvalid:
        return
    assert parse.TOKEN_PATTERN.match(note.token)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60), st.text(max_size=60))
def test_any_element_text_round_trips_through_an_order_reply(sku: str, name: str) -> None:
    emulator = Emulator()
    emulator.orders["1"] = Order(client_id="C1", lines=[(sku, 1, name)])
    status, _, text = emulator.reply("POST", "/API/407733/Orders/1", "key=" + emulator.api_key, b"")
    assert status == 200
    try:
        order = parse.parse_order(parse.load_xml(text.encode()))
    except parse.PayloadInvalid:
        # XML 1.0 cannot carry some control characters; the emulator sends them raw, which
        # the parser refuses cleanly.
        return
    # Carried as one line: white space collapsed, control characters (DEL, C1) made spaces.
    assert order.lines[0].sku == one_line(sku)


def test_an_order_reply_is_read() -> None:
    emulator = Emulator()
    emulator.add_order(
        "9", lines=[("A-1", 2, "Hits"), ("B-2", 1, "Live")], shipping_method="USPS Priority"
    )
    _, _, text = emulator.reply("GET", "/api/407733/ORDERS/9", "KEY=" + emulator.api_key, b"")
    order = parse.parse_order(parse.load_xml(text.encode()))
    assert (order.order_id, order.client_id, order.status, order.accepted) == (
        "9",
        "C9",
        "Accepted",
        True,
    )
    assert order.shipping_method == "USPS Priority"
    assert [(line.sku, line.quantity, line.name) for line in order.lines] == [
        ("A-1", 2, "Hits"),
        ("B-2", 1, "Live"),
    ]
    assert order.ship_to == parse.RecipientRequest(
        name="Pat Jones",
        address="500 Market Street, Suite 4",
        city="San Francisco",
        state="California",
        postal_code="94105",
        country="United States",
    )


def test_a_client_reply_is_read() -> None:
    text = _client_xml("C1", Client(email="a@example.com", first_name="Ann", last_name="Lee"))
    client = parse.parse_client(parse.load_xml(text.encode()))
    assert (client.email, client.name, client.address.address) == (
        "a@example.com",
        "Ann Lee",
        "12 Elm Street",
    )


def test_an_error_reply_raises_api_refused_with_its_words() -> None:
    body = b'<Response success="false"><Error>Invalid Merchant ID or API Key</Error></Response>'
    with pytest.raises(parse.ApiRefused, match=r"^Invalid Merchant ID or API Key$"):
        parse.parse_order(parse.load_xml(body))


def test_a_reply_without_order_info_is_invalid() -> None:
    with pytest.raises(parse.PayloadInvalid, match="no <OrderInfo>"):
        parse.parse_order(parse.load_xml(b'<Response success="true"></Response>'))


def _order_with_quantity(quantity: str) -> bytes:
    emulator = Emulator()
    emulator.add_order("9", lines=[("A-1", quantity, "Hits")])
    _, _, text = emulator.reply("POST", "/API/407733/Orders/9", "key=" + emulator.api_key, b"")
    return text.encode()


@pytest.mark.parametrize(("quantity", "copies"), [("2", 2), ("2.00", 2), (" 3 ", 3), ("250", 250)])
def test_a_whole_quantity_is_read(quantity: str, copies: int) -> None:
    order = parse.parse_order(parse.load_xml(_order_with_quantity(quantity)))
    assert [line.quantity for line in order.lines] == [copies]


@pytest.mark.parametrize(
    "quantity", ["1e999", "inf", "-inf", "nan", "-1", "0", "1.5", "", "two", "\u0661", "9" * 5000]
)
def test_a_quantity_that_is_not_a_whole_number_of_copies_is_refused(quantity: str) -> None:
    with pytest.raises(parse.PayloadInvalid) as refused:
        parse.parse_order(parse.load_xml(_order_with_quantity(quantity)))
    assert str(refused.value) == (
        f"Line 1 (SKU 'A-1') has quantity '{quantity.strip()[:40]}', which is not a whole "
        "number of copies of at least 1."
    )


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=30))
def test_any_quantity_text_is_read_or_refused_cleanly(quantity: str) -> None:
    try:
        order = parse.parse_order(parse.load_xml(_order_with_quantity(quantity)))
    except parse.PayloadInvalid:
        return
    assert order.lines[0].quantity >= 1


_DOCTYPE_NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.-]{0,12}", fullmatch=True)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_any_api_reply_loads_or_raises_payload_invalid(body: bytes) -> None:
    try:
        root = parse.load_api_reply(body)
    except parse.PayloadInvalid:
        return
    assert root.tag


@settings(max_examples=300, deadline=None)
@given(
    _DOCTYPE_NAMES,
    st.sampled_from(["", " [<!ENTITY a 'x'>]", ' SYSTEM "http://x/y.dtd"']),
    st.text(max_size=80),
)
def test_an_api_reply_declaring_a_dtd_is_refused_for_good_unless_it_is_a_web_page(
    doctype: str, internal: str, rest: str
) -> None:
    body = f"<?xml version='1.0'?><!DOCTYPE {doctype}{internal}>{rest}".encode()
    with pytest.raises(parse.PayloadInvalid) as raised:
        parse.load_api_reply(body)
    # The DTD is refused as soon as it is declared, whatever follows; HTML's own is a page.
    if doctype.lower() == "html":
        assert not isinstance(raised.value, parse.DtdRefused)
    else:
        assert isinstance(raised.value, parse.DtdRefused)
        assert raised.value.doctype == doctype


@pytest.mark.parametrize(
    ("body", "permanent"),
    [
        (b"<!DOCTYPE html><html><body>Maintenance</body></html>", False),
        (b"<!doctype HTML><html></html>", False),
        (b"<html><body>502 Bad Gateway</body></html>", False),
        (b'<!DOCTYPE lolz [<!ENTITY a "1">]><Response success="true">&a;</Response>', True),
        (b'<!DOCTYPE Response SYSTEM "file:///etc/passwd"><Response/>', True),
        (b"<!DOCTYPE Response><Response/>", True),
    ],
)
def test_web_pages_are_transient_and_dtds_permanent(body: bytes, permanent: bool) -> None:
    if permanent:
        with pytest.raises(parse.DtdRefused):
            parse.load_api_reply(body)
        return
    # A web page: unreadable as XML, or readable but no <Response>; never a DtdRefused.
    refusal: parse.PayloadInvalid | None = None
    try:
        root = parse.load_api_reply(body)
    except parse.PayloadInvalid as exc:
        refusal = exc
    if refusal is None:
        assert not parse.is_response(root)
    assert not isinstance(refusal, parse.DtdRefused)
