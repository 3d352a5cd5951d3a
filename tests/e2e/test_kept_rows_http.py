"""Kept rows under a real server: the serving processes take a cached publisher's row, the
product and the rate from memory, and the order's write requires them unchanged (SQLite: a
check inside its write transaction; PostgreSQL: within its one statement). A change made by
another process while clients keep ordering takes effect at once in every serving process.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from functools import partial

import pytest

from pressrun.gateway import errors
from tests.e2e.test_gateway_http import ORDER, Reply, failure_code, order_fields, send, success
from tests.live import LiveService
from tests.threads import run_together

pytestmark = pytest.mark.e2e


def test_a_password_changed_while_orders_arrive_stops_every_client_at_once(
    live_service: LiveService,
) -> None:
    """Four clients keep ordering while another process changes the password: every order
    answered as placed is stored and was made before the change, and each client's next
    order after it is refused as invalid credentials, with nothing written for it."""
    service = live_service
    account = service.create_publisher(balance="900.00")
    # Every serving process learns the credentials and keeps the publisher's row.
    for _ in range(8):
        success(send(service, ORDER, fields=order_fields(account, service.unique("WARM"))))
    replies: list[tuple[str, Reply]] = []
    lock = threading.Lock()
    started = threading.Event()
    changed_at: list[datetime] = []

    def orders(client: int) -> None:
        for number in range(400):
            invoice = service.unique(f"KEPT{client}")
            reply = send(service, ORDER, fields=order_fields(account, invoice))
            with lock:
                replies.append((invoice, reply))
            if number == 3:
                started.set()
            if not reply.text.startswith("[SUCCESS]"):
                return

    def change() -> None:
        assert started.wait(timeout=60)
        service.shell(
            "from django.contrib.auth.hashers import make_password; "
            "from pressrun.accounts.models import Publisher; "
            f"Publisher.objects.filter(id={account.id})"
            ".update(password=make_password('a new password'))"
        )
        changed_at.append(datetime.now(UTC))

    assert run_together(*(partial(orders, n) for n in range(4)), change, timeout=300) == []
    refused = [reply for _, reply in replies if not reply.text.startswith("[SUCCESS]")]
    # Each client went on until its first refusal, the credentials' own: none was answered
    # from a row kept before the change.
    assert [failure_code(reply) for reply in refused] == [errors.CREDENTIALS_INVALID.code] * 4
    placed = [invoice for invoice, reply in replies if reply.text.startswith("[SUCCESS]")]
    assert len(placed) >= 4
    counted, latest = service.shell(
        "from django.db.models import Max; from pressrun.orders.models import Order; "
        f"q = Order.objects.filter(publisher_id={account.id}, invoice__startswith='KEPT'); "
        "print(q.count(), q.aggregate(m=Max('created_at'))['m'].isoformat())"
    ).split()
    assert int(counted) == len(placed)
    # Every write requires the row the credentials were checked against (kept, or read for a
    # process's first order, whose password hash takes tens of milliseconds): none was
    # written on credentials changed before it.
    assert datetime.fromisoformat(latest) < changed_at[0]
    # The new password orders at once, through every process.
    for _ in range(4):
        fresh = order_fields(account, service.unique("NEWPW"), CoLoginPassword="a new password")
        success(send(service, ORDER, fields=fresh))
