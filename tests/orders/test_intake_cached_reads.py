"""Intake keeps the product and the shipping rate it read in the process, with what was
read of them, and its write requires them unchanged (PostgreSQL: within its one statement;
SQLite: by one statement in the write transaction, under the write lock): a later order reads
neither, and an order placed after either changed (however it was changed) is priced,
refused or held from the rows as they are now, with nothing left of the attempt priced from
the old ones. With PRESSRUN_INTAKE_CACHED_READS off, both are read for every order. These
tests run without the test's own transaction around them, as the server runs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from decimal import Decimal
from functools import partial
from typing import Any

import pytest
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from pressrun.accounts.models import Publisher
from pressrun.billing.models import LedgerEntry, ShippingRate
from pressrun.catalog.models import Project
from pressrun.orders.models import Order, OrderLine
from pressrun.orders.requests import LineRequest, OrderRequest, RecipientRequest
from pressrun.orders.services import OrderRefused, Refusal, order_place
from tests.billing.test_credit_and_holds import assert_ledger_matches_balance, place
from tests.threads import run_together

pytestmark = pytest.mark.django_db(transaction=True)
SQLITE = connection.vendor == "sqlite"
LETTER = ShippingRate.objects.filter(shipping_method="standard", region="domestic")


@contextmanager
def statements() -> Iterator[list[str]]:
    """The statements run meanwhile: each read's table, or the write's first word.
    On SQLite the check of the kept rows is "check", and a transaction's writes (its
    UPDATE and INSERTs, after BEGIN) are one "write"."""
    seen: list[str] = []

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        word = sql.split(maxsplit=1)[0]
        if SQLITE and sql.startswith("SELECT EXISTS("):
            seen.append("check")
        elif sql.startswith("SELECT") and " FROM " in sql:
            seen.append(sql.split(" FROM ", 1)[1].split(maxsplit=1)[0].strip('"'))
        elif SQLITE and word in ("UPDATE", "INSERT"):
            if not seen or seen[-1] != "write":
                seen.append("write")
        elif not (SQLITE and word == "BEGIN"):
            seen.append(word)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield seen


def priced(order: Order) -> tuple[str, Decimal, Decimal, Decimal, list[Decimal]]:
    stored = Order.objects.get(id=order.id)
    units = list(
        OrderLine.objects.filter(order=stored)
        .order_by("position")
        .values_list("unit_price", flat=True)
    )
    return stored.status, stored.products_cost, stored.shipping_cost, stored.total_cost, units


def priced_as(
    status: str, *units: Decimal, shipping: Decimal = Decimal("1.50")
) -> tuple[str, Decimal, Decimal, Decimal, list[Decimal]]:
    """What `priced` gives for an order of one of each unit price, shipped for `shipping`."""
    products = sum(units, Decimal("0.00"))
    return status, products, shipping, products + shipping, list(units)


@pytest.fixture
def kept(make_publisher: Any, make_project: Any) -> tuple[Any, Any]:
    """A publisher with $50.00 and a project, ordered once (INV-1, $6.00): this process keeps
    the project and the letter rate (on PostgreSQL)."""
    publisher = make_publisher(balance="50.00")
    project = make_project(publisher)
    place(publisher, project, invoice="INV-1")
    return publisher, project


def test_a_later_order_reads_neither_product_nor_rate(kept: tuple[Any, Any]) -> None:
    publisher, project = kept
    with statements() as seen:
        order = place(publisher, project, invoice="INV-2")
    reads = {"catalog_project", "billing_shippingrate"} & set(seen)
    assert reads == set()
    assert seen == (["check", "write"] if SQLITE else ["WITH"])
    assert priced(order) == priced_as("PROCESSING", Decimal("4.50"))


@pytest.mark.parametrize("change", ["price", "same values"])
def test_an_order_after_the_product_changed_is_priced_from_the_row_as_it_is(
    kept: tuple[Any, Any], change: str
) -> None:
    publisher, project = kept
    rows = Project.objects.filter(id=project.id)
    # Changed behind intake's back, as an operator's SQL would: no service is told.
    if change == "price":
        rows.update(price=Decimal("5.75"))
    else:
        rows.update(price=F("price"))
    unit = Decimal("5.75") if change == "price" else Decimal("4.50")
    with statements() as seen:
        order = place(publisher, project, invoice="INV-2")
    if change == "price":
        # The statement priced from the kept row failed (SQLite: its check, before any
        # write); the order was read and written again.
        first = ["check"] if SQLITE else ["WITH"]
        assert seen == [
            *first,
            "catalog_project",
            "billing_shippingrate",
            "write" if SQLITE else "WITH",
        ]
    else:
        # The row holds the values read: the price made of them stands.
        assert seen == (["check", "write"] if SQLITE else ["WITH"])
    total = unit + Decimal("1.50")
    assert priced(order) == priced_as("PROCESSING", unit)
    assert Order.objects.filter(invoice="INV-2").count() == 1
    assert OrderLine.objects.filter(invoice="INV-2").count() == 1
    assert Publisher.objects.get(id=publisher.id).balance == Decimal("44.00") - total
    assert_ledger_matches_balance(publisher)
    # The order after it keeps the row as it is now, and the one after that reads nothing.
    with statements() as seen:
        place(publisher, project, invoice="INV-3")
    assert ("catalog_project" in seen) is (change == "price")
    with statements() as seen:
        place(publisher, project, invoice="INV-4")
    assert "catalog_project" not in seen


def test_an_order_after_the_rate_changed_pays_the_new_rate(kept: tuple[Any, Any]) -> None:
    publisher, project = kept
    LETTER.update(first_unit=Decimal("2.10"))
    order = place(publisher, project, invoice="INV-2")
    assert priced(order) == priced_as("PROCESSING", Decimal("4.50"), shipping=Decimal("2.10"))
    assert Publisher.objects.get(id=publisher.id).balance == Decimal("37.40")
    assert Order.objects.count() == 2


def test_a_rate_deleted_after_it_was_kept_refuses_the_order(kept: tuple[Any, Any]) -> None:
    publisher, project = kept
    LETTER.delete()
    with pytest.raises(OrderRefused) as refused:
        place(publisher, project, invoice="INV-2")
    assert refused.value.reason == Refusal.PRICE_LIST_INCOMPLETE
    assert Order.objects.count() == 1
    assert Publisher.objects.get(id=publisher.id).balance == Decimal("44.00")


# (A product once ordered cannot be deleted: its order lines keep it.)
@pytest.mark.parametrize("change", ["deactivated", "moved"])
def test_a_product_gone_from_the_publisher_after_it_was_kept_is_refused(
    kept: tuple[Any, Any], make_publisher: Any, change: str
) -> None:
    publisher, project = kept
    rows = Project.objects.filter(id=project.id)
    if change == "deactivated":
        rows.update(is_active=False)
    else:
        rows.update(publisher=make_publisher())
    with pytest.raises(OrderRefused) as refused:
        place(publisher, project, invoice="INV-2")
    expected = Refusal.PRODUCT_NOT_YOURS if change == "moved" else Refusal.PRODUCT_UNKNOWN
    assert refused.value.reason == expected
    assert not Order.objects.filter(invoice="INV-2").exists()
    assert Publisher.objects.get(id=publisher.id).balance == Decimal("44.00")


@pytest.mark.parametrize("duplicate", ["invoice", "email"])
def test_a_duplicate_of_a_product_deactivated_since_it_was_kept_is_refused_as_unknown(
    make_publisher: Any, make_project: Any, duplicate: str
) -> None:
    # Refused as a duplicate on the kept row, the answer would name the wrong fault.
    publisher = make_publisher(balance="50.00")
    project = make_project(publisher)
    first = {"invoice": "INV-1"} if duplicate == "invoice" else {"email": "ann@example.com"}
    place(publisher, project, **first)
    Project.objects.filter(id=project.id).update(is_active=False)
    with pytest.raises(OrderRefused) as refused:
        place(publisher, project, **first)
    assert refused.value.reason == Refusal.PRODUCT_UNKNOWN
    assert Order.objects.count() == 1
    assert Publisher.objects.get(id=publisher.id).balance == Decimal("44.00")


def test_a_refusal_on_rows_that_hold_is_answered_as_it_is(kept: tuple[Any, Any]) -> None:
    publisher, project = kept
    with pytest.raises(OrderRefused) as refused:
        place(publisher, project, invoice="INV-1")
    assert refused.value.reason == Refusal.DUPLICATE
    # The kept row held: still kept, the next order reads nothing.
    with statements() as seen:
        place(publisher, project, invoice="INV-2")
    assert "catalog_project" not in seen


def test_an_order_of_two_products_after_the_rate_changed_pays_the_new_rate(
    make_publisher: Any, make_project: Any
) -> None:
    publisher = make_publisher(balance="50.00")
    first, second = make_project(publisher), make_project(publisher, price=Decimal("2.00"))
    place(publisher, first, invoice="INV-1")
    # Two sleeves travel as a parcel: standard with tracking.
    parcel = ShippingRate.objects.get(shipping_method="standard+tracking", region="domestic")
    request = OrderRequest(
        publisher_id=publisher.id,
        lines=(LineRequest(project_id=first.id, quantity=1), LineRequest(second.id, 1)),
        recipient=RecipientRequest(
            name="Ann Buyer", address="1 Main St", city="Austin", state="TX", postal_code="78701"
        ),
        mode="prod",
        source="gateway",
        invoice="INV-2",
    )
    order_place(request=request, publisher=publisher)  # the parcel rate kept
    ShippingRate.objects.filter(id=parcel.id).update(first_unit=parcel.first_unit + 1)
    order = order_place(request=replace(request, invoice="INV-3"), publisher=publisher)
    shipping = parcel.first_unit + 1 + parcel.each_additional_unit
    assert priced(order) == priced_as(
        "PROCESSING", Decimal("4.50"), Decimal("2.00"), shipping=shipping
    )


def test_an_order_in_the_callers_transaction_after_the_price_changed(kept: tuple[Any, Any]) -> None:
    # As a cart's intake places its orders: inside a transaction of its own.
    publisher, project = kept
    Project.objects.filter(id=project.id).update(price=Decimal("5.75"))
    with transaction.atomic():
        order = place(publisher, project, invoice="INV-2")
        other = place(publisher, project, invoice="INV-3")
    assert priced(order)[3] == priced(other)[3] == Decimal("7.25")
    assert Order.objects.count() == 3
    assert Publisher.objects.get(id=publisher.id).balance == Decimal("29.50")


def test_a_price_raised_past_the_balance_holds_the_order_at_the_new_price(
    make_publisher: Any, make_project: Any
) -> None:
    # The balance covers the kept price exactly: the order is guessed paid from the old row.
    publisher = make_publisher(balance="12.00")
    project = make_project(publisher)
    place(publisher, project, invoice="INV-1")
    Project.objects.filter(id=project.id).update(price=Decimal("5.00"))
    order = place(publisher, project, invoice="INV-2")
    assert priced(order) == priced_as("HOLD", Decimal("5.00"))
    assert Publisher.objects.get(id=publisher.id).balance == Decimal("6.00")
    assert_ledger_matches_balance(publisher)


def test_a_wrong_guess_and_a_changed_price_together_write_the_order_once_at_the_new_price(
    kept: tuple[Any, Any],
) -> None:
    publisher, project = kept
    # The balance as the credential check read it covers the order; the balance now does
    # not (spent meanwhile): the order is guessed paid, and the debit decides otherwise.
    Publisher.objects.filter(id=publisher.id).update(balance=Decimal("1.00"))
    LedgerEntry.objects.create(
        publisher=publisher,
        kind="adjustment",
        amount=Decimal("-43.00"),
        description="spent",
        created_at=timezone.now(),
    )
    Project.objects.filter(id=project.id).update(price=Decimal("5.75"))
    with statements() as seen:
        order = place(publisher, project, invoice="INV-2")
    if SQLITE:
        # The check failed before any write: priced again from fresh rows, and written
        # debit-first (so as HOLD at once), once.
        assert seen == ["check", "catalog_project", "billing_shippingrate", "write"]
    else:
        # The one statement failed; the debit-first retry debited nothing, then checked the
        # kept rows in its transaction (the check reads catalog_project) and failed: priced
        # again from fresh rows, guessed wrong again, and written debit-first as HOLD, once:
        # the order, its line, its placed event (no task row: orders.relay).
        assert seen == [
            "WITH",
            "UPDATE",
            "catalog_project",
            "catalog_project",
            "billing_shippingrate",
            "WITH",
            "UPDATE",
            *["INSERT"] * 3,
        ]
    assert priced(order) == priced_as("HOLD", Decimal("5.75"))
    assert Order.objects.filter(invoice="INV-2").count() == 1
    assert OrderLine.objects.filter(invoice="INV-2").count() == 1
    assert Publisher.objects.get(id=publisher.id).balance == Decimal("1.00")
    assert_ledger_matches_balance(publisher)


def test_an_order_checked_by_email_in_a_transaction_is_priced_from_the_row_as_it_is(
    make_publisher: Any, make_project: Any
) -> None:
    # No invoice: the five-day duplicate check by email keeps the write in a transaction.
    publisher = make_publisher(balance="50.00")
    project = make_project(publisher)
    place(publisher, project, email="first@example.com")
    Project.objects.filter(id=project.id).update(price=Decimal("3.25"))
    order = place(publisher, project, email="second@example.com")
    assert priced(order) == priced_as("PROCESSING", Decimal("3.25"))
    assert Order.objects.count() == 2
    assert Publisher.objects.get(id=publisher.id).balance == Decimal("39.25")


def test_switched_off_every_order_reads_both(kept: tuple[Any, Any], settings: Any) -> None:
    settings.INTAKE_CACHED_READS = False
    publisher, project = kept
    with statements() as seen:
        place(publisher, project, invoice="INV-2")
    assert {"catalog_project", "billing_shippingrate"} <= set(seen)


@pytest.mark.skipif(
    connection.vendor == "sqlite",
    reason="in-memory SQLite cannot be shared by threads; PostgreSQL runs this test",
)
def test_orders_placed_while_the_price_changes_are_each_priced_from_one_version(
    make_publisher: Any, make_project: Any
) -> None:
    """Four threads place orders while a fifth changes the price back and forth: each order
    is priced from one version of the row (its line, products cost and total agree), exactly
    the orders answered exist, and the balance is the ledger's."""
    publisher = make_publisher(balance="500.00")
    project = make_project(publisher)
    place(publisher, project, invoice="WARM")  # kept by this process
    prices = [Decimal("4.50"), Decimal("5.25")]
    placed: list[int] = []

    def orders(worker: int) -> None:
        for number in range(8):
            placed.append(place(publisher, project, invoice=f"W{worker}-{number}").id)

    def reprice() -> None:
        for change in range(12):
            Project.objects.filter(id=project.id).update(price=prices[change % 2])

    assert run_together(*(partial(orders, n) for n in range(4)), reprice) == []
    assert len(placed) == 32
    stored = Order.objects.exclude(invoice="WARM")
    assert sorted(stored.values_list("id", flat=True)) == sorted(placed)
    for order in stored:
        status, products, shipping, total, units = priced(order)
        assert status == "PROCESSING"
        assert units == [products]
        assert products in prices
        assert (shipping, total) == (Decimal("1.50"), products + Decimal("1.50"))
    assert OrderLine.objects.count() == 33
    assert_ledger_matches_balance(publisher)
    charged = sum(order.total_cost for order in Order.objects.all())
    assert Publisher.objects.get(id=publisher.id).balance == Decimal("500.00") - charged
