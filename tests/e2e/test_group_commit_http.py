"""The gateway's rules when a serving process writes orders in groups (core/group_commit.py).

A second `pressrun serve` on the live service's data runs one process with eight threads
that run the gateway's requests too, so orders that arrive together are written in shared
transactions (SQLite's default; on PostgreSQL the setting turns it on). The concurrency
rules must hold exactly as they do order by order: one order per invoice, one per email and
product without an invoice, and the balance paying exactly the orders it covers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from tests.e2e.test_gateway_http import (
    ORDER,
    STATUS,
    balance,
    concurrently,
    failure_code,
    order_fields,
    sections,
    send,
    status_fields,
    success,
)
from tests.live import LiveService

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class Server:
    base_url: str

    def url(self, path: str) -> str:
        return self.base_url + path


@pytest.fixture(scope="module")
def grouping_server(live_service: LiveService) -> Iterator[Server]:
    with live_service.another_server(
        PRESSRUN_WEB_PROCESSES="1",
        PRESSRUN_WEB_THREADS="8",
        # The gateway's requests on those threads, not on the process's one loop thread.
        PRESSRUN_WEB_LOOP_PATHS="",
        PRESSRUN_INTAKE_GROUP_COMMIT="1",
    ) as base_url:
        yield Server(base_url)


def test_forty_simultaneous_copies_of_one_invoice_make_one_order(
    live_service: LiveService, grouping_server: Server
) -> None:
    forty_copies_of_one_invoice_make_one_order(live_service, grouping_server, "GROUP-SAME")


def test_twenty_simultaneous_orders_when_the_balance_covers_seven(
    live_service: LiveService, grouping_server: Server
) -> None:
    twenty_orders_when_the_balance_covers_seven(live_service, grouping_server, "GROUP-RACE")


# The two rules as checks of their own: tests/e2e/test_sqlite_writer_http.py runs them
# against a server whose orders a writer process writes.


def forty_copies_of_one_invoice_make_one_order(
    service: LiveService, server: Any, prefix: str
) -> None:
    account = service.account
    invoice = service.unique(prefix)
    fields = order_fields(account, invoice)
    replies = concurrently([lambda: send(server, ORDER, fields=fields)] * 40)
    successes = [r for r in replies if r.text.startswith("[SUCCESS]")]
    assert len(successes) == 1, [r.text for r in replies]
    codes = Counter(failure_code(r) for r in replies if r not in successes)
    assert codes == {"000035": 39}, codes
    [section] = sections(send(server, STATUS, fields=status_fields(account, invoice)))
    assert (section["ErrorNum"], section["OrderStatus"]) == ("0", "PROCESSING")
    counted = service.shell(
        "from pressrun.orders.models import Order; from pressrun.billing.models import "
        f"LedgerEntry; print(Order.objects.filter(invoice={invoice!r}).count(), "
        f"LedgerEntry.objects.filter(order__invoice={invoice!r}).count())"
    )
    assert counted == "1 1"


def twenty_orders_when_the_balance_covers_seven(
    service: LiveService, server: Any, prefix: str
) -> None:
    account = service.create_publisher(balance="45.00")  # 7 x 6.00, and 3.00 over
    invoices = [service.unique(prefix) for _ in range(20)]
    replies = concurrently(
        [
            (lambda inv=inv: send(server, ORDER, fields=order_fields(account, inv)))
            for inv in invoices
        ]
    )
    placed = [success(reply) for reply in replies]
    assert Counter(p["Status"] for p in placed) == {"PROCESSING": 7, "HOLD": 13}
    found = sections(send(server, STATUS, fields=status_fields(account, *invoices)))
    assert [s["OrderStatus"] for s in found] == [p["Status"] for p in placed]
    assert balance(service, account) == "3.00"
    ledger = service.shell(
        "from django.db.models import Sum; from pressrun.billing.models import LedgerEntry; "
        f"q = LedgerEntry.objects.filter(publisher_id={account.id}); "
        "print(q.count(), q.aggregate(total=Sum('amount'))['total'])"
    )
    count, total = ledger.split()
    assert (count, Decimal(total)) == ("8", Decimal("3.00"))  # the payment and seven charges


def test_simultaneous_orders_without_an_invoice_for_one_email_make_one_order(
    live_service: LiveService, grouping_server: Server
) -> None:
    service = live_service
    account = service.create_publisher(balance="100.00")
    email = f"{service.unique('same').lower()}@example.com"
    fields = order_fields(account, "", email=email)
    replies = concurrently([lambda: send(grouping_server, ORDER, fields=fields)] * 16)
    successes = [r for r in replies if r.text.startswith("[SUCCESS]")]
    assert len(successes) == 1, [r.text for r in replies]
    codes = Counter(failure_code(r) for r in replies if r not in successes)
    assert codes == {"000035": 15}, codes
    counted = service.shell(
        "from pressrun.orders.models import Order; "
        f"print(Order.objects.filter(publisher_id={account.id}).count())"
    )
    assert counted == "1"
    assert balance(service, account) == "94.00"


def test_orders_refused_and_placed_together_each_get_their_own_answer(
    live_service: LiveService, grouping_server: Server
) -> None:
    service = live_service
    account = service.create_publisher(balance="100.00")
    good = [service.unique("GROUP-OK") for _ in range(6)]
    calls = [
        (lambda inv=inv: send(grouping_server, ORDER, fields=order_fields(account, inv)))
        for inv in good
    ]
    # Refused before any write (an unknown product) and in the write (a repeated invoice).
    calls += [
        lambda: send(grouping_server, ORDER, fields=order_fields(account, "GROUP-X", productid="1"))
    ] * 3
    calls += [lambda: send(grouping_server, ORDER, fields=order_fields(account, good[0]))] * 3
    replies = concurrently(calls)
    answers = Counter(
        "success" if r.text.startswith("[SUCCESS]") else failure_code(r) for r in replies
    )
    # Of the four copies of the first invoice one is placed; the unknown product is refused.
    assert answers == {"success": 6, "000035": 3, "000012": 3}, answers
    placed = sections(send(grouping_server, STATUS, fields=status_fields(account, *good)))
    assert [s["OrderStatus"] for s in placed] == ["PROCESSING"] * 6
    assert balance(service, account) == "64.00"
