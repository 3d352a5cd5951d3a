"""Intake's orders through the SQLite writer (PRESSRUN_SQLITE_WRITER, core/sqlite/writer.py),
in-process: the program a web process sends is run by the writer's own code (`group_write`)
on the test's connection instead of another process's, so that every answer can be given
on purpose. The order, its rows and its instances are those of the order written by its
process; every answer that is not "committed" ends as intake's own path ends. The writer as
a process is in tests/e2e/test_sqlite_writer_http.py."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.db import connection

from pressrun.billing.models import LedgerEntry
from pressrun.catalog.models import Project
from pressrun.core.sqlite import writer
from pressrun.orders import services as intake
from pressrun.orders.models import Order, OrderEvent, OrderLine
from pressrun.orders.requests import OrderRequest
from pressrun.orders.services import OrderRefused, Refusal, order_place
from tests.orders.test_order_prepare import request_for as prepared_request_for

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "sqlite",
        reason="SQLite's writer process: the suite's SQLite half runs these tests",
    ),
]


def request_for(publisher: Any, project: Any, *, invoice: str) -> OrderRequest:
    """A gateway order with the buyer's email (its placed email's task is one of the rows)."""
    return prepared_request_for(
        publisher, project, invoice=invoice, source="gateway", email="ann@example.com"
    )


class FakeWriter:
    """Stands for the writer process: runs what it is sent with the writer's own code, then
    answers as told (`lose`: after running it, or instead of it)."""

    def __init__(self) -> None:
        self.programs: list[writer.WriteProgram] = []
        self.lose: str = ""  # "", "after", "before"
        self.unavailable = False
        self.off = False  # PRESSRUN_SQLITE_WRITER off

    def submit(self, path: str, program: writer.WriteProgram) -> writer.Answer:
        assert path == "writer-socket"
        if self.unavailable:
            raise writer.WriterUnavailable("nobody listening")
        self.programs.append(program)
        if self.lose == "before":
            raise writer.AnswerLost("the writer died before its COMMIT")
        [answer] = writer.group_write([program])
        if self.lose == "after":
            raise writer.AnswerLost("the writer died after its COMMIT")
        return answer


@pytest.fixture
def fake_writer(monkeypatch: pytest.MonkeyPatch) -> FakeWriter:
    fake = FakeWriter()
    monkeypatch.setattr(intake, "_writer_path", lambda: None if fake.off else "writer-socket")
    monkeypatch.setattr(writer, "writer_submit", fake.submit)
    return fake


def rows_of(order: Order) -> dict[str, Any]:
    """What an order's rows say, but their ids, tokens and times."""
    stored = Order.objects.get(id=order.id)
    return {
        "order": (
            stored.status,
            stored.fulfillment_state,
            stored.products_cost,
            stored.total_cost,
            stored.name,
            stored.charged_at is not None,
        ),
        "lines": list(
            OrderLine.objects.filter(order=stored).values_list(
                "project_id", "quantity", "unit_price", "invoice"
            )
        ),
        "events": list(
            OrderEvent.objects.filter(order=stored).order_by("id").values_list("kind", "to_status")
        ),
        "ledger": list(
            LedgerEntry.objects.filter(order=stored).values_list("kind", "amount", "publisher_id")
        ),
    }


def same_but_invoice(rows: dict[str, Any], invoice: str) -> dict[str, Any]:
    return {**rows, "lines": [(*line[:3], invoice) for line in rows["lines"]]}


def test_an_order_through_the_writer_is_the_order_its_process_writes(
    make_publisher: Any, make_project: Any, fake_writer: FakeWriter
) -> None:
    publisher = make_publisher(balance="100")
    project = make_project(publisher)
    fake_writer.off = True
    alone = order_place(request=request_for(publisher, project, invoice="W-0"), publisher=publisher)
    assert not fake_writer.programs
    fake_writer.off = False

    order = order_place(request=request_for(publisher, project, invoice="W-1"), publisher=publisher)
    assert len(fake_writer.programs) == 1
    assert rows_of(order) == same_but_invoice(rows_of(alone), "W-1")
    assert rows_of(order)["order"][0] == "PROCESSING"
    # The instances as the process's own write leaves them.
    assert order.pk == Order.objects.get(invoice="W-1").pk
    assert not order._state.adding
    lines = list(order.lines.all())  # prefetched
    assert [(line.pk, line.order_id) for line in lines] == list(
        OrderLine.objects.filter(order=order).values_list("id", "order_id")
    )
    assert order.publisher_id == publisher.id
    publisher.refresh_from_db()
    assert publisher.balance == Decimal("100") - 2 * order.total_cost


def test_a_duplicate_through_the_writer_is_refused_and_writes_nothing(
    make_publisher: Any, make_project: Any, fake_writer: FakeWriter
) -> None:
    publisher = make_publisher(balance="100")
    project = make_project(publisher)
    first = order_place(request=request_for(publisher, project, invoice="D-1"), publisher=publisher)
    with pytest.raises(OrderRefused) as refused:
        order_place(request=request_for(publisher, project, invoice="D-1"), publisher=publisher)
    assert refused.value.reason == Refusal.DUPLICATE
    assert len(fake_writer.programs) == 2  # refused by the writer's program
    assert list(Order.objects.values_list("id", flat=True)) == [first.id]
    publisher.refresh_from_db()
    assert publisher.balance == Decimal("100") - first.total_cost  # its debit undone


def test_a_price_changed_since_the_process_kept_it_is_the_one_charged(
    make_publisher: Any, make_project: Any, fake_writer: FakeWriter
) -> None:
    publisher = make_publisher(balance="100")
    project = make_project(publisher)
    order_place(request=request_for(publisher, project, invoice="P-1"), publisher=publisher)
    Project.objects.filter(id=project.id).update(price=Decimal("6.25"))
    order = order_place(request=request_for(publisher, project, invoice="P-2"), publisher=publisher)
    # The writer found the kept product changed, wrote nothing; placed again as it is now.
    assert len(fake_writer.programs) == 3
    assert rows_of(order)["lines"] == [(project.id, 2, Decimal("6.25"), "P-2")]


def test_an_order_the_balance_no_longer_covers_is_held_by_its_process(
    make_publisher: Any, make_project: Any, fake_writer: FakeWriter
) -> None:
    publisher = make_publisher(balance="10")
    project = make_project(publisher)
    # The balance read with the publisher says paid; the debit finds it spent meanwhile.
    type(publisher).objects.filter(id=publisher.id).update(balance=Decimal("1"))
    order = order_place(request=request_for(publisher, project, invoice="H-1"), publisher=publisher)
    assert len(fake_writer.programs) == 1
    assert rows_of(order)["order"][0] == "HOLD"
    assert rows_of(order)["ledger"] == []
    assert Order.objects.count() == 1
    publisher.refresh_from_db()
    assert publisher.balance == Decimal("1")


@pytest.mark.parametrize("lose", ["before", "after"])
def test_an_order_whose_answer_was_lost_exists_once(
    make_publisher: Any, make_project: Any, fake_writer: FakeWriter, lose: str
) -> None:
    publisher = make_publisher(balance="100")
    project = make_project(publisher)
    fake_writer.lose = lose
    order = order_place(request=request_for(publisher, project, invoice="L-1"), publisher=publisher)
    assert list(Order.objects.values_list("id", flat=True)) == [order.id]
    assert rows_of(order)["order"][0] == "PROCESSING"
    assert [line.order_id for line in order.lines.all()] == [order.id]
    assert LedgerEntry.objects.filter(order=order).count() == 1
    publisher.refresh_from_db()
    assert publisher.balance == Decimal("100") - order.total_cost


def test_an_order_with_no_writer_listening_is_written_by_its_process(
    make_publisher: Any, make_project: Any, fake_writer: FakeWriter
) -> None:
    publisher = make_publisher(balance="100")
    project = make_project(publisher)
    fake_writer.unavailable = True
    order = order_place(request=request_for(publisher, project, invoice="U-1"), publisher=publisher)
    assert not fake_writer.programs
    assert rows_of(order)["order"][0] == "PROCESSING"
    assert Order.objects.count() == 1


def test_an_order_without_an_invoice_is_written_by_its_process(
    make_publisher: Any, make_project: Any, fake_writer: FakeWriter
) -> None:
    publisher = make_publisher(balance="100")
    project = make_project(publisher)
    order = order_place(request=request_for(publisher, project, invoice=""), publisher=publisher)
    assert not fake_writer.programs  # the email rule reads under the products' lock
    assert Order.objects.get().id == order.id
