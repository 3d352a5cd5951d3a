"""getOrderStatusByInvoice: invoice list parsing and the XML reply."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pressrun.orders.models import OrderStatus
from pressrun.orders.selectors import OrderStatusRow

INVOICE_SEPARATOR = "[*|*]"
MAX_INVOICES = 100
# Characters XML 1.0 cannot carry at all, even escaped.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;"})

FIELDS = (
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
TEST_ORDER_DESCRIPTION = (
    "Test order. It was submitted with mode=test and will never be manufactured or shipped."
)


def split_invoices(text: str) -> list[str]:
    """The first 100 invoices of a `[*|*]`-joined list, stripped; the rest is ignored."""
    return [invoice.strip() for invoice in text.split(INVOICE_SEPARATOR)[:MAX_INVOICES]]


def xml_text(value: object) -> str:
    return _XML_INVALID.sub("", str(value)).translate(_ESCAPES)


@dataclass(frozen=True)
class StatusSection:
    error_num: int
    error_desc: str = ""
    invoice: str = ""
    order: OrderStatusRow | None = None

    def values(self) -> dict[str, str]:
        values = dict.fromkeys(FIELDS, "")
        values["ErrorNum"] = str(self.error_num)
        values["ErrorDesc"] = self.error_desc
        values["Invoice"] = self.invoice
        values["OrderStatusErrNum"] = "0"
        order = self.order
        if order is None:
            values["OrderStatusErrNum"] = ""
            return values
        values["CustName"] = order.name
        values["ShippingMethod"] = order.shipping_method
        values["TrackingID"] = order.tracking_id
        if order.ship_date:
            values["ShipDate"] = order.ship_date.strftime("%m/%d/%Y")
        if order.status == OrderStatus.TEST:
            values["OrderStatus"] = "ERROR"
            values["OrderStatusErrNum"] = "20"
            values["OrderStatusErrDesc"] = TEST_ORDER_DESCRIPTION
        elif order.status == OrderStatus.ERROR:
            values["OrderStatus"] = "ERROR"
            values["OrderStatusErrNum"] = "10"
            values["OrderStatusErrDesc"] = f"Error with address. {order.error_description}".strip()
        else:
            values["OrderStatus"] = order.status
        return values


def render_status_xml(sections: list[StatusSection]) -> str:
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n<OrderStatusResponse>\n']
    for number, section in enumerate(sections, start=1):
        parts.append(f"  <Status{number}>\n")
        for name, value in section.values().items():
            parts.append(f"    <{name}>{xml_text(value)}</{name}>\n")
        parts.append(f"  </Status{number}>\n")
    parts.append("</OrderStatusResponse>\n")
    return "".join(parts)
