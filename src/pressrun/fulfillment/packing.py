"""A batch's printable PDF: the pick list (first page), then one packing slip per order.

The pick list says what to burn and print: per project, its title, media, packaging and how
many units the batch needs. Each packing slip goes in its parcel: the ship-to address, the
publisher's company (the sender the customer knows), the items and quantities, the special
text (the order's SpecialText, else each project's own), "You've already paid $x.xx for this
order." only when the order's nprice is above zero (the spec), and for an international
order the customs data (`customs.py`).

Every text that comes from a customer, a publisher or a cart is escaped for reportlab's
Paragraph markup (`_text`), so "<b>" or "&" in an address prints as written and can never
change the document. Built with reportlab (platypus), in memory.
"""

from __future__ import annotations

import functools
import io
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from xml.sax.saxutils import escape

import reportlab
from django.utils import timezone
from reportlab.lib import colors
from reportlab.lib.pagesizes import LETTER
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import inch
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import (
    Flowable,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from pressrun.catalog.models import Project
from pressrun.core.money import format_money
from pressrun.fulfillment.customs import customs_declaration
from pressrun.fulfillment.floor import GROUPS_BY_KEY, kind_label, queue_sort_key
from pressrun.fulfillment.models import Batch
from pressrun.orders.address import country_name
from pressrun.orders.models import Order, ShippingMethod

# A font with wide coverage (Latin, Greek, Cyrillic) when the system has it, else the Vera
# font reportlab ships with; both are embedded, so the PDF prints the same everywhere.
_FONT_CANDIDATES = (
    (
        Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
        Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
    ),
    (
        Path(reportlab.__file__).parent / "fonts" / "Vera.ttf",
        Path(reportlab.__file__).parent / "fonts" / "VeraBd.ttf",
    ),
)
FONT = "PressrunSans"
BOLD = "PressrunSans-Bold"


@functools.cache
def _register_fonts() -> None:
    for regular, bold in _FONT_CANDIDATES:
        if regular.exists() and bold.exists():
            pdfmetrics.registerFont(TTFont(FONT, str(regular)))
            pdfmetrics.registerFont(TTFont(BOLD, str(bold)))
            pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=BOLD)
            return
    raise RuntimeError("No TrueType font for the packing slips (reportlab's Vera is missing).")


def _text(value: object) -> str:
    """User text as Paragraph markup: escaped, line breaks kept."""
    return "<br/>".join(escape(line) for line in str(value).splitlines() or [""])


@dataclass(frozen=True)
class _Styles:
    title: ParagraphStyle
    heading: ParagraphStyle
    body: ParagraphStyle
    small: ParagraphStyle


def _styles() -> _Styles:
    body = ParagraphStyle("body", fontName=FONT, fontSize=10, leading=13)
    return _Styles(
        title=ParagraphStyle("title", parent=body, fontName=BOLD, fontSize=16, leading=20),
        heading=ParagraphStyle(
            "heading", parent=body, fontName=BOLD, fontSize=11, leading=14, spaceBefore=8
        ),
        body=body,
        small=ParagraphStyle("small", parent=body, fontSize=8, leading=10),
    )


def _kind(project: Project) -> str:
    """'CD sleeve'."""
    return kind_label(project.media, project.packaging)


def batch_orders(batch: Batch) -> list[Order]:
    """The batch's current orders with their lines, projects and publisher, in queue order
    (priority and express first, then the oldest)."""
    orders = list(
        Order.objects.filter(
            batch_memberships__batch=batch, batch_memberships__removed_at__isnull=True
        )
        .select_related("publisher")
        .prefetch_related("lines__project")
    )
    orders.sort(key=queue_sort_key)
    return orders


@dataclass(frozen=True)
class PickLine:
    project: Project
    units: int
    orders: int


def pick_list(orders: list[Order]) -> list[PickLine]:
    """Per project (by project ID): the units to burn and print, and in how many orders."""
    units: dict[int, int] = defaultdict(int)
    in_orders: dict[int, set[int]] = defaultdict(set)
    projects: dict[int, Project] = {}
    for order in orders:
        for line in order.lines.all():
            projects[line.project_id] = line.project
            units[line.project_id] += line.quantity
            in_orders[line.project_id].add(order.id)
    return [
        PickLine(projects[project_id], units[project_id], len(in_orders[project_id]))
        for project_id in sorted(projects)
    ]


def _table(rows: list[list[Paragraph]], widths: list[float]) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black),
                ("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.grey),
                ("LEFTPADDING", (0, 0), (-1, -1), 3),
                ("RIGHTPADDING", (0, 0), (-1, -1), 3),
            ]
        )
    )
    return table


def _pick_list_page(batch: Batch, orders: list[Order], styles: _Styles) -> list[Flowable]:
    lines = pick_list(orders)
    total = sum(line.units for line in lines)
    group = GROUPS_BY_KEY.get(batch.group)
    story: list[Flowable] = [
        Paragraph(f"Batch {batch.id} · pick list", styles.title),
        Paragraph(
            f"{_text(group.label if group else batch.group)} · {len(orders)} "
            f"{'order' if len(orders) == 1 else 'orders'} · {total} "
            f"{'unit' if total == 1 else 'units'}",
            styles.body,
        ),
        Paragraph(
            f"Created {batch.created_at:%Y-%m-%d %H:%M} UTC by {_text(batch.created_by_name)}"
            f" · printed {timezone.now():%Y-%m-%d %H:%M} UTC",
            styles.small,
        ),
        Spacer(1, 0.15 * inch),
    ]
    head = ["Project", "Title", "Media", "Units", "Orders"]
    rows = [[Paragraph(f"<b>{cell}</b>", styles.body) for cell in head]]
    rows += [
        [
            Paragraph(str(line.project.id), styles.body),
            Paragraph(_text(line.project.title), styles.body),
            Paragraph(_text(_kind(line.project)), styles.body),
            Paragraph(str(line.units), styles.body),
            Paragraph(str(line.orders), styles.body),
        ]
        for line in lines
    ]
    story.append(_table(rows, [0.9 * inch, 3.2 * inch, 1.5 * inch, 0.6 * inch, 0.7 * inch]))
    story += [
        Spacer(1, 0.15 * inch),
        Paragraph(
            "Orders, in packing order: " + ", ".join(str(order.id) for order in orders),
            styles.small,
        ),
    ]
    return story


def special_texts(order: Order) -> list[str]:
    """What the special-text line says: the order's SpecialText (it overrides the projects'),
    else each project's own special text, once each."""
    if order.special_text.strip():
        return [order.special_text.strip()]
    found: list[str] = []
    for line in order.lines.all():
        text = line.project.special_text.strip()
        if text and text not in found:
            found.append(text)
    return found


def _ounces(weight: Decimal) -> str:
    return f"{weight.normalize():f} oz"


def _slip(batch: Batch, order: Order, styles: _Styles) -> list[Flowable]:
    heading = f"Packing slip · order {order.id}"
    if order.invoice:
        heading += f" · invoice {_text(order.invoice)}"
    shipping = ShippingMethod(order.shipping_method).label
    story: list[Flowable] = [
        Paragraph(heading, styles.title),
        Paragraph(f"Batch {batch.id} · {_text(shipping)}", styles.small),
    ]
    company = order.publisher.company.strip()
    if company:
        story.append(Paragraph(f"From: {_text(company)}", styles.body))
    story.append(Paragraph("Ship to", styles.heading))
    address = [order.name, order.company, order.address]
    address.append(
        " ".join(
            part for part in (f"{order.city},", order.state, order.postal_code) if part
        ).rstrip(",")
    )
    address.append(country_name(order.country))
    story += [Paragraph(_text(line), styles.body) for line in address if line.strip()]
    story.append(Paragraph("Items", styles.heading))
    head = ["Qty", "Title", "Media", "Project"]
    rows = [[Paragraph(f"<b>{cell}</b>", styles.body) for cell in head]]
    rows += [
        [
            Paragraph(str(line.quantity), styles.body),
            Paragraph(_text(line.project.title), styles.body),
            Paragraph(_text(_kind(line.project)), styles.body),
            Paragraph(str(line.project.id), styles.body),
        ]
        for line in order.lines.all()
    ]
    story.append(_table(rows, [0.6 * inch, 3.6 * inch, 1.6 * inch, 1.0 * inch]))
    texts = special_texts(order)
    if texts:
        story.append(Paragraph("Special text", styles.heading))
        story += [Paragraph(_text(text), styles.body) for text in texts]
    price = order.customer_price
    if price is not None and price > 0:
        story += [
            Spacer(1, 0.1 * inch),
            Paragraph(f"You've already paid {format_money(price)} for this order.", styles.body),
        ]
    customs = customs_declaration(order)
    if customs is not None:
        story += [
            Paragraph("Customs declaration", styles.heading),
            Paragraph(f"Contents: {customs.contents}", styles.body),
            Paragraph(f"Quantity: {customs.quantity}", styles.body),
            Paragraph(f"Value: {format_money(customs.value)} USD", styles.body),
            Paragraph(f"Weight: {_ounces(customs.weight_oz)}", styles.body),
            Paragraph(f"Country of destination: {_text(country_name(order.country))}", styles.body),
        ]
    return story


def batch_pdf(batch: Batch) -> bytes:
    """The batch's PDF: the pick list, then one packing slip per current order (each on its
    own page), in packing order."""
    _register_fonts()
    styles = _styles()
    orders = batch_orders(batch)
    story = _pick_list_page(batch, orders, styles)
    for order in orders:
        story.append(PageBreak())
        story += _slip(batch, order, styles)
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=LETTER,
        title=f"Batch {batch.id}",
        author="pressrun",
        leftMargin=0.75 * inch,
        rightMargin=0.75 * inch,
        topMargin=0.75 * inch,
        bottomMargin=0.75 * inch,
    )
    document.build(story)
    return buffer.getvalue()
