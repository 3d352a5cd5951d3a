"""One release function: after every change to a balance or to a HOLD order's cost, no HOLD
order is left that the balance covers (oldest first, skipping what does not fit).

The issue's case: a HOLD order changed from $2,441.25 to $33.50 with $954.75 in the balance
stayed on HOLD, and Billing said "pay $0.00" to release it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from pressrun.accounts.models import Publisher
from pressrun.accounts.services import publisher_create
from pressrun.billing.models import LedgerEntry, LedgerKind
from pressrun.billing.services import (
    CreditInvalid,
    PaymentRefused,
    ledger_adjust,
    ledger_credit,
    order_pay_from_balance,
)
from pressrun.catalog.services import project_create
from pressrun.fulfillment.services import FulfillmentRefused, fulfillment_move
from pressrun.orders.changes import (
    OrderChangeRefused,
    order_correct_address,
    order_delete,
    order_modify,
)
from pressrun.orders.models import Order, OrderLine, OrderStatus
from pressrun.orders.requests import LineRequest, OrderRequest, RecipientRequest
from pressrun.orders.services import OrderRefused, order_place
from tests.dashboard.conftest import sign_in
from tests.dashboard.pages import text
from tests.fulfillment.support import close_window, today

pytestmark = pytest.mark.django_db

US = RecipientRequest(
    name="Ann Buyer", address="1 Main St", city="Austin", state="TX", postal_code="78701"
)
FRANCE = RecipientRequest(
    name="Ann Buyer", address="5 Rue de Rivoli", city="Paris", postal_code="75001", country="FR"
)


def place(
    publisher: Publisher,
    lines: list[tuple[Any, int]],
    *,
    recipient: RecipientRequest = US,
    mode: str = "prod",
    mail_method: str | None = "rtrackstandard",
    invoice: str = "",
) -> Order:
    request = OrderRequest(
        publisher_id=publisher.id,
        lines=tuple(LineRequest(project_id=p.id, quantity=q) for p, q in lines),
        recipient=recipient,
        mode=mode,
        source="gateway",
        invoice=invoice,
        mail_method=mail_method,
    )
    return order_place(request=request, publisher=publisher)


def balance(publisher: Publisher) -> Decimal:
    return Publisher.objects.values_list("balance", flat=True).get(id=publisher.id)


def assert_no_hold_order_is_affordable(publisher: Publisher) -> None:
    """The release rule, checked independently of billing's code: walking the HOLD orders
    oldest first with the balance, none fits (each one's cost exceeds the balance)."""
    money = balance(publisher)
    holds = Order.objects.filter(publisher=publisher, status=OrderStatus.HOLD)
    affordable = [
        (o.id, o.total_cost) for o in holds.order_by("created_at", "id") if o.total_cost <= money
    ]
    assert affordable == [], f"balance {money} covers HOLD orders {affordable}"


def assert_ledger_matches_balance(publisher: Publisher) -> None:
    # Added up here: SQLite's SUM() of a decimal column is a float sum (0.179999999999996).
    amounts = LedgerEntry.objects.filter(publisher=publisher).values_list("amount", flat=True)
    assert balance(publisher) == sum(amounts, Decimal("0.00"))


@pytest.fixture
def issue_case(make_publisher: Callable[..., Any], make_project: Callable[..., Any]) -> Any:
    """$954.75 in the balance and a $2,441.25 HOLD order: 170 x $9.00 + 39 x $19.25, standard
    + tracking $4.50 + 208 x $0.75."""
    publisher = make_publisher(balance="954.75", email="owner@example.com")
    usb = make_project(publisher, title="Box Set", media="usb", price=Decimal("9.00"))
    dvd = make_project(publisher, title="Concert", media="dvd", price=Decimal("19.25"))
    order = place(publisher, [(usb, 170), (dvd, 39)])
    assert (order.status, order.total_cost) == (OrderStatus.HOLD, Decimal("2441.25"))
    lines = {line.project_id: line.id for line in OrderLine.objects.filter(order=order)}
    return publisher, order, {lines[usb.id]: 1, lines[dvd.id]: 1}


def test_a_hold_order_made_cheaper_than_the_balance_is_released(issue_case: Any) -> None:
    publisher, order, one_each = issue_case
    changed = order_modify(
        publisher=publisher, order_id=order.id, quantities=one_each, actor="publisher"
    )
    # $9.00 + $19.25 + $4.50 + $0.75
    assert (changed.total_cost, changed.status) == (Decimal("33.50"), OrderStatus.PROCESSING)
    assert changed.charged_at is not None
    assert balance(publisher) == Decimal("921.25")
    charge = LedgerEntry.objects.get(order=order)
    assert (charge.kind, charge.amount) == (LedgerKind.ORDER_CHARGE, Decimal("-33.50"))
    assert list(order.events.order_by("id").values_list("kind", flat=True)) == [
        "placed",
        "modified",
        "charged",
    ]
    assert_ledger_matches_balance(publisher)


def test_billing_never_says_pay_nothing_after_a_hold_order_is_made_cheaper(
    issue_case: Any, client: Client
) -> None:
    publisher, order, one_each = issue_case
    sign_in(client, publisher)
    line_fields = {f"quantity_{line_id}": str(n) for line_id, n in one_each.items()}
    form = {
        "name": "Ann Buyer",
        "address": "1 Main St",
        "city": "Austin",
        "state": "TX",
        "postal_code": "78701",
        "country": "US",
        "mail_method": "rtrackstandard",
        **line_fields,
    }
    response = client.post(f"/orders/{order.id}/modify", form)
    assert response.status_code == 302
    detail = text(client.get(response["Location"]))
    assert (
        f"Order {order.id} is changed. It now costs $33.50 (was $2,441.25). Your balance "
        "covers it, so it is paid and in production."
    ) in detail
    page = text(client.get("/billing"))
    holds = page[page.index("Orders on HOLD") : page.index("Add credit")]
    assert holds == "Orders on HOLD No order is waiting for payment. "
    assert "Balance $921.25" in page


def test_a_customer_address_fix_that_makes_a_hold_order_cheaper_releases_it(
    make_publisher: Callable[..., Any], make_project: Callable[..., Any]
) -> None:
    publisher = make_publisher(balance="15.00")
    cd = make_project(publisher, price=Decimal("4.50"))
    # International standard + tracking: $4.50 + $14.00 = $18.50 > $15.00
    order = place(publisher, [(cd, 1)], recipient=FRANCE)
    assert (order.status, order.total_cost) == (OrderStatus.HOLD, Decimal("18.50"))
    fixed = order_correct_address(order_id=order.id, recipient=US, actor="customer")
    # Domestic standard + tracking: $4.50 + $4.50
    assert (fixed.total_cost, fixed.status) == (Decimal("9.00"), OrderStatus.PROCESSING)
    assert balance(publisher) == Decimal("6.00")
    assert_ledger_matches_balance(publisher)


def test_an_adjustment_releases_holds_and_says_why(
    make_publisher: Callable[..., Any], make_project: Callable[..., Any]
) -> None:
    publisher = make_publisher()
    cd = make_project(publisher, price=Decimal("4.50"))
    first, second = place(publisher, [(cd, 1)]), place(publisher, [(cd, 1)])  # $9.00 each
    result = ledger_adjust(
        publisher_id=publisher.id, amount=Decimal("10.00"), reason=" Goodwill  ", actor="op"
    )
    assert [o.id for o in result.released] == [first.id]
    assert (result.entry.kind, result.entry.amount, result.entry.description) == (
        LedgerKind.ADJUSTMENT,
        Decimal("10.00"),
        "Goodwill",
    )
    assert result.balance == Decimal("1.00")
    # A negative one (a refund of unused credit) releases nothing and may go below zero.
    result = ledger_adjust(
        publisher_id=publisher.id, amount=Decimal("-3.00"), reason="Refund", actor="op"
    )
    assert (result.released, result.balance) == ([], Decimal("-2.00"))
    assert Order.objects.get(id=second.id).status == OrderStatus.HOLD
    assert_ledger_matches_balance(publisher)


@pytest.mark.parametrize(
    ("amount", "reason"),
    [("0", "x"), ("0.001", "x"), ("NaN", "x"), ("10000000", "x"), ("5", "  ")],
)
def test_invalid_adjustments_write_nothing(
    make_publisher: Callable[..., Any], amount: str, reason: str
) -> None:
    publisher = make_publisher()
    with pytest.raises(CreditInvalid):
        ledger_adjust(publisher_id=publisher.id, amount=Decimal(amount), reason=reason, actor="t")
    assert not LedgerEntry.objects.exists()


def test_a_sub_cent_payment_is_refused_not_rounded_to_nothing(
    make_publisher: Callable[..., Any],
) -> None:
    publisher = make_publisher()
    with pytest.raises(CreditInvalid):
        ledger_credit(publisher_id=publisher.id, amount=Decimal("0.001"), description="", actor="t")
    assert not LedgerEntry.objects.exists()


# --- the rule under random sequences ---------------------------------------------------------


class ReleaseRule(RuleBasedStateMachine):
    """Random orders (through intake), changes, payments, adjustments and deletions for one
    fresh publisher; after every step no HOLD order is affordable and the ledger adds up."""

    orders = Bundle("orders")

    @initialize()
    def publisher_and_projects(self) -> None:
        number = Publisher.objects.count() + 1
        self.publisher = publisher_create(
            email=f"machine{number}@example.com",
            password="correct horse battery",
        )
        self.projects = [
            project_create(
                publisher=self.publisher,
                title=f"Title {price}",
                media="cd",
                packaging="jewel-case",
                price=Decimal(price),
            )
            for price in ("3.25", "7.10", "12.00")
        ]
        self.invoices = iter(range(1, 100_000))

    @rule(
        target=orders,
        project=st.integers(0, 2),
        quantity=st.integers(1, 12),
        test_mode=st.booleans(),
        mail_method=st.sampled_from([None, "standard", "rtrackstandard", "priority"]),
    )
    def place_an_order(
        self, project: int, quantity: int, test_mode: bool, mail_method: str | None
    ) -> int:
        order = place(
            self.publisher,
            [(self.projects[project], quantity)],
            mode="test" if test_mode else "prod",
            mail_method=mail_method,
            invoice=f"M{next(self.invoices)}",
        )
        return order.id

    @rule(order_id=orders, quantity=st.integers(1, 12))
    def change_the_quantity(self, order_id: int, quantity: int) -> None:
        line = OrderLine.objects.filter(order_id=order_id).first()
        if line is None:
            return
        with contextlib.suppress(OrderChangeRefused, Order.DoesNotExist):
            order_modify(
                publisher=self.publisher,
                order_id=order_id,
                quantities={line.id: quantity},
                actor="publisher",
            )

    @rule(order_id=orders, mail_method=st.sampled_from(["standard", "priority", "express"]))
    def change_the_mail_method(self, order_id: int, mail_method: str) -> None:
        with contextlib.suppress(OrderChangeRefused, Order.DoesNotExist):
            order_modify(
                publisher=self.publisher,
                order_id=order_id,
                mail_method=mail_method,
                actor="publisher",
            )

    @rule(order_id=orders, abroad=st.booleans())
    def customer_corrects_the_address(self, order_id: int, abroad: bool) -> None:
        with contextlib.suppress(OrderChangeRefused, Order.DoesNotExist):
            order_correct_address(
                order_id=order_id, recipient=FRANCE if abroad else US, actor="customer"
            )

    @rule(cents=st.integers(1, 8_000))
    def pay(self, cents: int) -> None:
        ledger_credit(
            publisher_id=self.publisher.id,
            amount=Decimal(cents) / 100,
            description="Payment",
            actor="operator",
        )

    @rule(short_by=st.integers(1, 800))
    def pay_just_short_of_the_cheapest_hold(self, short_by: int) -> None:
        """A payment that leaves the balance just below the cheapest HOLD order: nothing is
        released, and the next change that makes an order cheaper must release it."""
        cheapest = (
            Order.objects.filter(publisher=self.publisher, status=OrderStatus.HOLD)
            .order_by("total_cost")
            .values_list("total_cost", flat=True)
            .first()
        )
        if cheapest is None:
            return
        amount = cheapest - balance(self.publisher) - Decimal(short_by) / 100
        if amount >= Decimal("0.01"):
            result = ledger_credit(
                publisher_id=self.publisher.id, amount=amount, description="", actor="op"
            )
            assert result.released == []

    @rule(cents=st.integers(-3_000, 3_000).filter(bool))
    def adjust(self, cents: int) -> None:
        ledger_adjust(
            publisher_id=self.publisher.id,
            amount=Decimal(cents) / 100,
            reason="Correction",
            actor="operator",
        )

    @rule(order_id=orders)
    def delete(self, order_id: int) -> None:
        with contextlib.suppress(OrderChangeRefused, Order.DoesNotExist):
            order_delete(publisher=self.publisher, order_id=order_id, actor="publisher")

    @rule(order_id=orders)
    def operator_ships(self, order_id: int) -> None:
        """Paid orders move on; a HOLD one cannot be shipped (the table refuses it)."""
        with contextlib.suppress(FulfillmentRefused, Order.DoesNotExist):
            close_window(order_id)
            fulfillment_move(order_id=order_id, to="shipped", actor="op", ship_date=today())

    @rule(order_id=orders)
    def operator_cancels(self, order_id: int) -> None:
        """A paid order not shipped yet is refunded (which may release HOLD orders)."""
        with contextlib.suppress(FulfillmentRefused, Order.DoesNotExist):
            fulfillment_move(order_id=order_id, to="cancelled", actor="op", reason="Refund.")

    @invariant()
    def no_hold_order_is_affordable(self) -> None:
        if hasattr(self, "publisher"):
            assert_no_hold_order_is_affordable(self.publisher)

    @invariant()
    def the_ledger_adds_up(self) -> None:
        if hasattr(self, "publisher"):
            assert_ledger_matches_balance(self.publisher)
            for order in Order.objects.filter(publisher=self.publisher).exclude(
                status__in=[OrderStatus.HOLD, OrderStatus.TEST]
            ):
                charge = LedgerEntry.objects.get(order=order, kind=LedgerKind.ORDER_CHARGE)
                assert charge.amount == -order.total_cost
                refunds = LedgerEntry.objects.filter(order=order, kind=LedgerKind.ORDER_REFUND)
                if order.status == OrderStatus.CANCELLED:
                    assert [r.amount for r in refunds] == [order.total_cost]
                else:
                    assert not refunds.exists()


def test_no_hold_order_is_ever_left_affordable(make_publisher: Any) -> None:
    # make_publisher: the shipping price list (a transaction=True test elsewhere may have
    # flushed it) is put back.
    run_state_machine_as_test(
        ReleaseRule,
        settings=settings(
            max_examples=40,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


# --- concurrency (PostgreSQL) ----------------------------------------------------------------


@pytest.mark.skipif(
    connection.vendor == "sqlite",
    reason="in-memory SQLite cannot be shared by threads; PostgreSQL runs this test",
)
@pytest.mark.django_db(transaction=True)
def test_modifies_payments_adjustments_and_operator_moves_race_without_deadlock(
    make_publisher: Callable[..., Any], make_project: Callable[..., Any]
) -> None:
    """Every path takes the publisher's row before any order's: many of them at once on
    one publisher finish without a deadlock, and the rule holds at the end."""
    publisher = make_publisher()
    cd = make_project(publisher, price=Decimal("4.50"))
    for round_number in range(3):
        errors = _race_one_round(publisher, cd, round_number)
        assert errors == []
        assert_no_hold_order_is_affordable(publisher)
        assert_ledger_matches_balance(publisher)


REFUSALS = (OrderChangeRefused, OrderRefused, CreditInvalid, PaymentRefused, FulfillmentRefused)


def _race_one_round(publisher: Publisher, cd: Any, round_number: int) -> list[BaseException]:
    """Six $19.50 HOLD orders; then at once: four modified down to $6.00, two payments, an
    adjustment, an operator paying one order and cancelling another (a refund, if it was
    paid by then). Returns the unexpected errors."""
    orders = [place(publisher, [(cd, 3)], invoice=f"R{round_number}-{n}") for n in range(6)]
    lines = {o.id: OrderLine.objects.get(order=o).id for o in orders}
    barrier = threading.Barrier(9)
    errors: list[BaseException] = []

    def run(job: Callable[[], object]) -> None:
        barrier.wait()
        try:
            job()
        except (
            OrderChangeRefused,
            OrderRefused,
            CreditInvalid,
            PaymentRefused,
            FulfillmentRefused,
        ):
            pass  # a refusal is an answer; a deadlock or any other error is not
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    def modify(order: Order) -> Callable[[], object]:
        return lambda: order_modify(
            publisher=publisher, order_id=order.id, quantities={lines[order.id]: 1}, actor="p"
        )

    jobs: list[Callable[[], object]] = [modify(order) for order in orders[:4]]
    jobs += [
        lambda: ledger_credit(
            publisher_id=publisher.id, amount=Decimal("20"), description="", actor="op"
        ),
        lambda: ledger_adjust(
            publisher_id=publisher.id, amount=Decimal("7.50"), reason="fix", actor="op"
        ),
        lambda: ledger_credit(
            publisher_id=publisher.id, amount=Decimal("9"), description="", actor="op"
        ),
        lambda: order_pay_from_balance(order_id=orders[5].id, actor="op"),
        lambda: fulfillment_move(order_id=orders[0].id, to="cancelled", actor="op", reason="r"),
    ]
    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return errors
