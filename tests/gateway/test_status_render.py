"""The status reply's renderer against the straightforward one it replaced.

`render_status_xml` builds the reply as formatted text for speed; `reference_render` below is
the earlier renderer (a dict of values per section, each value escaped on its own), kept
here as the definition of the bytes the reply must have.
"""

from __future__ import annotations

import re
from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from pressrun.gateway import errors
from pressrun.gateway.status import (
    FIELDS,
    STATUS_REPLIES,
    StatusSection,
    render_status_xml,
    xml_text,
)
from pressrun.orders.models import Mode, OrderStatus
from pressrun.orders.selectors import OrderStatusRow

_REFERENCE_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_REFERENCE_ESCAPES = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;"}
)


def reference_text(value: object) -> str:
    return _REFERENCE_INVALID.sub("", str(value)).translate(_REFERENCE_ESCAPES)


def reference_values(section: StatusSection) -> dict[str, str]:
    values = dict.fromkeys(FIELDS, "")
    values["ErrorNum"] = str(section.error_num)
    values["ErrorDesc"] = section.error_desc
    values["Invoice"] = section.invoice
    values["OrderStatusErrNum"] = "0"
    order = section.order
    if order is None:
        values["OrderStatusErrNum"] = ""
        return values
    values["CustName"] = order.name
    values["ShippingMethod"] = order.shipping_method
    values["TrackingID"] = order.tracking_id
    if order.ship_date:
        values["ShipDate"] = order.ship_date.strftime("%m/%d/%Y")
    reply = STATUS_REPLIES[order.status]
    values["OrderStatus"] = reply.order_status
    values["OrderStatusErrNum"] = str(reply.err_num)
    if reply.err_desc and order.status != OrderStatus.TEST:
        values["OrderStatusErrDesc"] = f"{reply.err_desc} {order.error_description}".strip()
    else:
        values["OrderStatusErrDesc"] = reply.err_desc
    return values


def reference_render(sections: list[StatusSection]) -> str:
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n<OrderStatusResponse>\n']
    for number, section in enumerate(sections, start=1):
        parts.append(f"  <Status{number}>\n")
        for name, value in reference_values(section).items():
            parts.append(f"    <{name}>{reference_text(value)}</{name}>\n")
        parts.append(f"  </Status{number}>\n")
    parts.append("</OrderStatusResponse>\n")
    return "".join(parts)


# Any character, surrogates included, with the ones the renderer treats specially (markup,
# characters XML cannot carry, whitespace that `strip` removes) drawn far more often.
SPECIAL = "&<>\"'\x00\x01\x08\x09\x0a\x0b\x0c\x0d\x0e\x1f\x7f\x85\xa0\u2028\ud800\ufffe\uffff "
texts = st.text(
    st.one_of(
        st.sampled_from(SPECIAL),
        st.characters(exclude_categories=()),
        st.characters(max_codepoint=0x7F),
    ),
    max_size=30,
)
orders = st.builds(
    OrderStatusRow,
    id=st.integers(min_value=1),
    invoice=texts,
    mode=st.sampled_from([Mode.PROD, Mode.TEST]),
    status=st.sampled_from(list(OrderStatus)),
    name=texts,
    error_description=texts,
    ship_date=st.none() | st.dates(min_value=date(1, 1, 1)),
    shipping_method=texts,
    tracking_id=texts,
)
sections = st.builds(
    StatusSection,
    error_num=st.sampled_from([code for code, *_ in errors.STATUS_ERRORS]) | st.integers(),
    error_desc=texts,
    invoice=texts,
    order=st.none() | orders,
)


@settings(max_examples=500)
@given(st.lists(sections, max_size=6))
def test_render_is_the_reference_rendering(drawn: list[StatusSection]):
    assert render_status_xml(drawn) == reference_render(drawn)


@settings(max_examples=500)
@given(st.one_of(texts, st.integers(), st.none(), st.booleans()))
def test_xml_text_is_the_reference_escaping(value: object):
    assert xml_text(value) == reference_text(value)


def test_every_character_is_escaped_as_the_reference_does():
    everything = "".join(map(chr, range(0x110000)))
    assert xml_text(everything) == reference_text(everything)


def test_hundred_sections_of_every_kind():
    shipped = OrderStatusRow(
        7, "A&B", Mode.PROD, OrderStatus.SHIPPED, "O'Neil", "", date(2026, 3, 4), "ups", "1Z<9>"
    )
    drawn = [
        StatusSection(0, "", "A&B", shipped),
        StatusSection(errors.STATUS_NOT_FOUND, "Record Not found.", "X\x00Y"),
        StatusSection(errors.STATUS_INVOICE_BLANK, "Invoice was blank."),
        *(
            StatusSection(0, "", f"I-{status}", shipped._replace(status=status))
            for status in OrderStatus
        ),
    ] * 12
    assert render_status_xml(drawn) == reference_render(drawn)
