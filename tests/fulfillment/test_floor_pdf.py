"""The batch PDF, read back with pypdf: the pick list, one packing slip per order with the
ship-to address, the publisher's company, items, special text, "already paid" only when
nprice > 0, customs data for international orders, and user text printed as written."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

import pypdf
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pressrun.fulfillment.batches import batch_create, order_pull_out
from pressrun.fulfillment.customs import (
    PACKAGE_WEIGHT_OZ,
    STANDARD_PACKAGE_WEIGHT_OZ,
    customs_value,
    parcel_weight_oz,
)
from pressrun.fulfillment.models import Batch
from pressrun.fulfillment.packing import batch_pdf
from pressrun.orders.models import Order
from tests.fulfillment import floor_support
from tests.fulfillment.floor_support import operator, place_order

pytestmark = pytest.mark.django_db
publisher = floor_support.publisher
kinds = floor_support.kinds

PARIS = {
    "name": "Zoë <i>Müller</i>",
    "company": "A & B <Records>",
    "address": "10 Rue de Rivoli",
    "city": "Paris",
    "state": "",
    "postal_code": "75001",
    "country": "FR",
}


def pages(pdf: bytes) -> list[list[str]]:
    """Each page's text, one entry per line, the printed time left out."""
    assert pdf.startswith(b"%PDF-")
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return [
        [line.strip() for line in page.extract_text().splitlines() if line.strip()]
        for page in reader.pages
    ]


def make_batch(group: str, *orders: Order) -> Batch:
    result = batch_create(group=group, user=operator("ann"), order_ids=[o.id for o in orders])
    assert result.moved == tuple(sorted(o.id for o in orders))
    assert result.batch is not None
    return result.batch


def test_pick_list_and_one_slip_per_order(
    kinds: dict[str, Any], publisher: Any, make_project: Any
) -> None:
    sleeve, usb = kinds["cd-sleeve"], kinds["usb-ecomailer"]
    sleeve.special_text = "Thanks for listening!"
    sleeve.save()
    paris = place_order(
        publisher,
        (sleeve, 2),
        (usb, 1),
        hours_ago=3,
        special_text="Key: 3<5 & 7>2\nA&amp;B",
        customer_price=Decimal("19.95"),
        recipient=PARIS,
        invoice="INV <1> & 2",
    )
    austin = place_order(publisher, (usb, 1), (sleeve, 1), hours_ago=2, customer_price=Decimal(0))
    batch = make_batch("mixed", paris, austin)

    pick, first, second = pages(batch_pdf(batch))

    assert pick[:2] == [
        f"Batch {batch.id} · pick list",
        "Mixed (several kinds in one box) · 2 orders · 5 units",
    ]
    assert pick[2].startswith(f"Created {batch.created_at:%Y-%m-%d %H:%M} UTC by ann · printed ")
    assert pick[3:] == [
        *("Project", "Title", "Media", "Units", "Orders"),
        *(str(sleeve.id), "Hits", "CD sleeve", "3", "2"),
        *(str(usb.id), "Archive", "USB ecomailer", "2", "2"),
        f"Orders, in packing order: {paris.id}, {austin.id}",
    ]
    assert first == [
        f"Packing slip · order {paris.id} · invoice INV <1> & 2",
        f"Batch {batch.id} · Standard + tracking",
        "From: Acme Discs",
        "Ship to",
        "Zoë <i>Müller</i>",
        "A & B <Records>",
        "10 Rue de Rivoli",
        "Paris, 75001",
        "France",
        "Items",
        *("Qty", "Title", "Media", "Project"),
        *("2", "Hits", "CD sleeve", str(sleeve.id)),
        *("1", "Archive", "USB ecomailer", str(usb.id)),
        "Special text",
        "Key: 3<5 & 7>2",  # the order's SpecialText overrides the project's
        "A&amp;B",
        "You've already paid $19.95 for this order.",
        "Customs declaration",
        "Contents: CD/DVD/USB media",
        "Quantity: 3",
        "Value: $18.00 USD",  # $6.00 per unit: the price is not for the customs form
        "Weight: 6 oz",
        "Country of destination: France",
    ]
    assert second == [
        f"Packing slip · order {austin.id} · invoice {austin.invoice}",
        f"Batch {batch.id} · Standard + tracking",
        "From: Acme Discs",
        "Ship to",
        "Ann Buyer",
        "1 Main St",
        "Austin, TX 78701",
        "United States",
        "Items",
        *("Qty", "Title", "Media", "Project"),
        *("1", "Archive", "USB ecomailer", str(usb.id)),
        *("1", "Hits", "CD sleeve", str(sleeve.id)),
        "Special text",
        "Thanks for listening!",  # nprice 0: no "already paid" line; domestic: no customs
    ]


def test_customs_use_nprice_when_asked_and_slips_follow_queue_order(
    kinds: dict[str, Any], publisher: Any, make_publisher: Any, make_project: Any
) -> None:
    case = kinds["dvd-case"]
    toronto = {"city": "Toronto", "state": "ON", "postal_code": "M5V 2T6", "country": "CA"}
    declared = place_order(
        publisher,
        (case, 3),
        hours_ago=5,
        customer_price=Decimal("45.00"),
        use_price_on_customs_form=True,
        recipient=toronto,
    )
    express = place_order(publisher, (case, 1), hours_ago=1, mail_method="express")
    pulled = place_order(publisher, (case, 1), hours_ago=9)
    batch = make_batch("dvd-case", declared, express, pulled)
    order_pull_out(order_id=pulled.id, user=operator("bob"))

    pick, first, second = pages(batch_pdf(batch))

    assert pick[1] == "DVD case · 2 orders · 4 units"
    assert pick[-1] == f"Orders, in packing order: {express.id}, {declared.id}"
    assert first[:2] == [
        f"Packing slip · order {express.id} · invoice {express.invoice}",
        f"Batch {batch.id} · Express",
    ]
    assert "Customs declaration" not in first
    assert second[second.index("Customs declaration") :] == [
        "Customs declaration",
        "Contents: CD/DVD/USB media",
        "Quantity: 3",
        "Value: $45.00 USD",
        "Weight: 12 oz",
        "Country of destination: Canada",
    ]
    assert "You've already paid $45.00 for this order." in second


def test_a_publisher_without_a_company_prints_no_from_line(
    kinds: dict[str, Any], make_publisher: Any, make_project: Any
) -> None:
    bare = make_publisher(balance="50")
    order = place_order(bare, (make_project(bare, title="Plain"), 1))
    batch = make_batch("cd-sleeve", order)
    _, slip = pages(batch_pdf(batch))
    assert slip[2] == "Ship to"


def test_the_weight_table_and_the_customs_value() -> None:
    assert Decimal(4) == STANDARD_PACKAGE_WEIGHT_OZ  # the spec's standard package
    assert {
        "sleeve": Decimal(2),
        "jewel-case": Decimal(4),
        "dvd-case": Decimal(4),
        "usb-ecomailer": Decimal(2),
    } == PACKAGE_WEIGHT_OZ
    assert parcel_weight_oz([("jewel-case", 2), ("sleeve", 1)]) == Decimal(10)
    order = Order(customer_price=Decimal("0.00"), use_price_on_customs_form=True)
    assert customs_value(order, 2) == Decimal("12.00")  # nprice 0 is "no price"
    order.customer_price = None
    assert customs_value(order, 1) == Decimal("6.00")
    order.customer_price = Decimal("7.50")
    assert customs_value(order, 4) == Decimal("7.50")
    order.use_price_on_customs_form = False
    assert customs_value(order, 4) == Decimal("24.00")


MARKUP = "<>&;/\"'=#abcé ÜΩЖ"


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.text(alphabet=MARKUP, min_size=1, max_size=30),
    company=st.text(alphabet=MARKUP, max_size=30),
    special=st.text(alphabet=MARKUP + "\n", max_size=60),
)
def test_any_text_prints_as_written(
    kinds: dict[str, Any], publisher: Any, name: str, company: str, special: str
) -> None:
    """Whatever a name, company or special text holds — markup, entities, quotes — the slip
    prints it as written (and the PDF is always built)."""
    name, company = " ".join(name.split()) or "x", " ".join(company.split())
    order = Order.objects.filter(mode="prod").first() or place_order(
        publisher, (kinds["cd-sleeve"], 1)
    )
    batch = Batch.objects.first() or make_batch("cd-sleeve", order)
    Order.objects.filter(id=order.id).update(name=name, company=company, special_text=special)
    slip = pages(batch_pdf(batch))[1]
    ship_to = slip.index("Ship to")
    assert slip[ship_to + 1] == name
    assert slip[ship_to + 2] == (company or "1 Main St")
    expected = [" ".join(line.split()) for line in special.strip().splitlines()]
    if any(expected):
        start = slip.index("Special text") + 1
        assert slip[start : start + len([e for e in expected if e])] == [e for e in expected if e]
