"""The SQLite writer dying with an order (core/sqlite/writer.py): killed before its
COMMIT, the order is not written and its web process writes it; killed after, before
answering, the order is written and its web process finds it. A module of its own: the
writer of another module's server on the same data would take the orders instead."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.test_gateway_http import ORDER, balance, order_fields, send, success
from tests.e2e.test_sqlite_writer_http import Server, orders_invoices_and_charges
from tests.live import LiveService

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    "point", ["sqlite_writer_before_commit", "sqlite_writer_committed_before_answer"]
)
def test_an_order_whose_writer_died_without_answering_exists_once(
    live_service: LiveService, point: str
) -> None:
    """The writer dies (-9) with an order's group: before its COMMIT (the order is not
    written; its process writes it) or after it, before answering (the order is written;
    its process finds it). Either way the publisher gets [SUCCESS], and one order."""
    if "postgres" in live_service.env.get("PRESSRUN_DATABASE_URL", ""):
        pytest.skip("The writer process is SQLite's; the suite's SQLite half runs this test.")
    service = live_service
    account = service.create_publisher(balance="12.00")
    invoices = [service.unique("WRITER-DIES") for _ in range(3)]
    with service.another_server(
        PRESSRUN_SQLITE_WRITER="1",
        PRESSRUN_WEB_PROCESSES="1",
        PRESSRUN_FAULT_INJECTION=f"{point}:kill",
    ) as base_url:
        [database] = service.data_dir.glob("*.sqlite3")
        server = Server(base_url, Path(f"{database}.writer"))
        dead: set[int] = set()
        statuses = []
        for invoice in invoices:
            # Each order to a writer that listens (the last one died with the order before).
            dead.add(server.writer_pid(listening=True, other_than=dead))
            statuses.append(success(send(server, ORDER, fields=order_fields(account, invoice))))
        logs = (service.data_dir / f"server-{base_url.rsplit(':', 1)[1]}.log").read_text()
    assert [s["Status"] for s in statuses] == ["PROCESSING", "PROCESSING", "HOLD"]
    assert logs.count("The SQLite writer exited (-9)") >= 2, logs
    assert orders_invoices_and_charges(service, account.id) == (3, 3, 2)
    assert balance(service, account) == "0.00"
