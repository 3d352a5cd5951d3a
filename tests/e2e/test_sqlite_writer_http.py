"""The gateway's rules when one writer process writes the orders of every web process
(PRESSRUN_SQLITE_WRITER, core/sqlite/writer.py; SQLite only).

A second `pressrun serve` on the live service's data runs four web processes and the writer
it starts. The concurrency rules must hold exactly as they do when each process writes its
own orders: one order per invoice, one per email and product without an invoice (those the
processes write themselves, beside the writer's), the balance paying exactly the orders it
covers; and a writer killed mid-run must lose and double nothing.
"""

from __future__ import annotations

import os
import pickle
import re
import signal
import struct
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pressrun.core.sqlite.writer import writer_connect
from tests.e2e.test_gateway_http import (
    ORDER,
    STATUS,
    Reply,
    balance,
    concurrently,
    failure_code,
    order_fields,
    sections,
    send,
    status_fields,
    success,
)
from tests.e2e.test_group_commit_http import (
    forty_copies_of_one_invoice_make_one_order,
    twenty_orders_when_the_balance_covers_seven,
)
from tests.live import PRESSRUN, LiveService

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class Server:
    base_url: str

    def url(self, path: str) -> str:
        return self.base_url + path

    writer_socket: Path

    def writer_pid(self, *, listening: bool = False, other_than: Collection[int] = ()) -> int:
        """The writer process this server started (`pressrun sqlitewriter --parent <the
        server's pid>`) but those `other_than`, once it runs (and, `listening`, once its
        socket takes connections)."""
        port = self.base_url.rsplit(":", 1)[1].encode()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for pid in _pids():
                words = _command_line(pid)
                if pid in other_than or b"sqlitewriter" not in words or b"--parent" not in words:
                    continue
                parent = int(words[words.index(b"--parent") + 1])
                if port in _command_line(parent) and (not listening or self._accepts()):
                    return pid
            time.sleep(0.1)
        raise AssertionError("no SQLite writer process found for the server")

    def _accepts(self) -> bool:
        try:
            writer_connect(str(self.writer_socket), timeout=5).close()
        except OSError:
            return False
        return True


def _pids() -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def _command_line(pid: int) -> list[bytes]:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return []


@pytest.fixture(scope="module")
def writer_server(live_service: LiveService) -> Iterator[Server]:
    if "postgres" in live_service.env.get("PRESSRUN_DATABASE_URL", ""):
        pytest.skip("The writer process is SQLite's; the suite's SQLite half runs this module.")
    with live_service.another_server(
        PRESSRUN_SQLITE_WRITER="1",
        PRESSRUN_WEB_PROCESSES="4",
    ) as base_url:
        [database] = live_service.data_dir.glob("*.sqlite3")
        yield Server(base_url, Path(f"{database}.writer"))
    # Stopped with its server, the (last) writer says what it wrote.
    port = base_url.rsplit(":", 1)[1]
    log = (live_service.data_dir / f"server-{port}.log").read_text()
    assert "SQLite writer listening at" in log, log
    assert re.search(r"SQLite writer stopped: [1-9]\d* orders in [1-9]\d* transactions", log), log


def test_orders_go_through_the_writer(live_service: LiveService, writer_server: Server) -> None:
    """With the writer stopped (SIGSTOP) an order waits for it; let go, it is placed."""
    account = live_service.account
    invoice = live_service.unique("WRITER-WAIT")
    writer = writer_server.writer_pid()
    replies: list[Reply] = []
    os.kill(writer, signal.SIGSTOP)
    try:
        sender = threading.Thread(
            target=lambda: replies.append(
                send(writer_server, ORDER, fields=order_fields(account, invoice))
            )
        )
        sender.start()
        sender.join(timeout=1.5)
        assert not replies, "the order was answered while the writer was stopped"
    finally:
        os.kill(writer, signal.SIGCONT)
    sender.join(timeout=60)
    [reply] = replies
    assert success(reply)["Status"] == "PROCESSING"
    [section] = sections(send(writer_server, STATUS, fields=status_fields(account, invoice)))
    assert (section["ErrorNum"], section["OrderStatus"]) == ("0", "PROCESSING")


def test_forty_simultaneous_copies_of_one_invoice_make_one_order(
    live_service: LiveService, writer_server: Server
) -> None:
    forty_copies_of_one_invoice_make_one_order(live_service, writer_server, "WRITER-SAME")


def test_twenty_simultaneous_orders_when_the_balance_covers_seven(
    live_service: LiveService, writer_server: Server
) -> None:
    twenty_orders_when_the_balance_covers_seven(live_service, writer_server, "WRITER-RACE")


def test_simultaneous_orders_without_an_invoice_for_one_email_make_one_order(
    live_service: LiveService, writer_server: Server
) -> None:
    """Written by their processes (the email rule reads under the products' lock), beside
    the writer's orders."""
    service = live_service
    account = service.create_publisher(balance="100.00")
    email = f"{service.unique('same').lower()}@example.com"
    fields = order_fields(account, "", email=email)
    calls = [lambda: send(writer_server, ORDER, fields=fields)] * 16
    others = [service.unique("WRITER-BESIDE") for _ in range(8)]
    calls += [
        (lambda inv=inv: send(writer_server, ORDER, fields=order_fields(account, inv)))
        for inv in others
    ]
    replies = concurrently(calls)
    same = replies[:16]
    successes = [r for r in same if r.text.startswith("[SUCCESS]")]
    assert len(successes) == 1, [r.text for r in same]
    codes = Counter(failure_code(r) for r in same if r not in successes)
    assert codes == {"000035": 15}, codes
    assert [success(r)["Status"] for r in replies[16:]] == ["PROCESSING"] * 8
    counted = service.shell(
        "from pressrun.orders.models import Order; "
        f"print(Order.objects.filter(publisher_id={account.id}).count())"
    )
    assert counted == "9"
    assert balance(service, account) == "46.00"


def test_a_writer_killed_mid_run_loses_and_doubles_nothing(
    live_service: LiveService, writer_server: Server
) -> None:
    """Four clients place orders one after another while the writer is killed (-9) twice,
    orders in flight; `pressrun serve` starts it again. Every order is answered [SUCCESS]
    and exists once, each charge once, and the balance is exact."""
    service = live_service
    account = service.create_publisher(balance="600.00")  # 100 orders of 6.00
    invoices = [[service.unique(f"WRITER-KILL{c}") for _ in range(25)] for c in range(4)]
    replies: dict[str, Reply] = {}
    answered = threading.Semaphore(0)
    going = threading.Event()
    going.set()

    def client(mine: list[str]) -> None:
        for invoice in mine:
            going.wait(timeout=60)
            replies[invoice] = send(writer_server, ORDER, fields=order_fields(account, invoice))
            answered.release()

    threads = [threading.Thread(target=client, args=(mine,)) for mine in invoices]
    for thread in threads:
        thread.start()
    killed = set()
    for kill_after in (20, 30):
        for _ in range(kill_after):
            assert answered.acquire(timeout=60)
        writer = writer_server.writer_pid(listening=True, other_than=killed)
        os.kill(writer, signal.SIGKILL)
        killed.add(writer)
        # The orders in flight are answered without it; the next ones wait for the writer
        # started again, so that it is killed with orders in flight too.
        going.clear()
        writer_server.writer_pid(listening=True, other_than=killed)
        going.set()
    for thread in threads:
        thread.join(timeout=120)
    every = [invoice for mine in invoices for invoice in mine]
    assert sorted(replies) == sorted(every)
    assert Counter(success(replies[i])["Status"] for i in every) == {"PROCESSING": 100}
    assert orders_invoices_and_charges(service, account.id) == (100, 100, 100)
    assert balance(service, account) == "0.00"


def test_a_second_writer_for_the_database_waits_and_takes_over_when_the_first_dies(
    live_service: LiveService, writer_server: Server, tmp_path: Path
) -> None:
    """Another `pressrun sqlitewriter` on the same data (as another `pressrun serve`'s would
    be) waits while the server's writer lives: the socket stays the first's. Killed -9, the
    server's writer leaves the database to the waiting one, and the server's web processes
    send it their orders; stopped in turn, it says it wrote them."""
    account = live_service.account
    first = writer_server.writer_pid(listening=True)
    socket_file = writer_server.writer_socket
    bound_by_first = os.stat(socket_file).st_ino
    log = tmp_path / "second-writer.log"
    with log.open("w") as out:
        second = subprocess.Popen(
            [str(PRESSRUN), "sqlitewriter"],
            env=live_service.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        _wait_for_line(log, "Another SQLite writer serves")
        reply = send(writer_server, ORDER, fields=order_fields(account, live_service.unique("W1")))
        assert success(reply)["Status"] == "PROCESSING"
        assert second.poll() is None
        assert os.stat(socket_file).st_ino == bound_by_first
        assert "SQLite writer listening" not in log.read_text()

        os.kill(first, signal.SIGKILL)
        _wait_for_line(log, "SQLite writer listening at")
        invoices = [live_service.unique("WRITER-SECOND") for _ in range(3)]
        for invoice in invoices:
            reply = send(writer_server, ORDER, fields=order_fields(account, invoice))
            assert success(reply)["Status"] == "PROCESSING"
    finally:
        second.terminate()
        try:
            second.wait(timeout=30)
        except subprocess.TimeoutExpired:
            second.kill()  # it would keep the database's writer lock from the server's
            second.wait(timeout=30)
    assert re.search(r"SQLite writer stopped: 3 orders in [1-3] transactions", log.read_text())
    assert second.returncode == 0, log.read_text()
    # The server's own writer, started again meanwhile, serves the database once more.
    writer_server.writer_pid(listening=True, other_than={first})
    reply = send(writer_server, ORDER, fields=order_fields(account, live_service.unique("W2")))
    assert success(reply)["Status"] == "PROCESSING"


def _wait_for_line(log: Path, text: str) -> None:
    deadline = time.monotonic() + 30
    while text not in log.read_text():
        assert time.monotonic() < deadline, f"{text!r} not logged within 30 s:\n{log.read_text()}"
        time.sleep(0.05)


def test_a_client_that_does_not_speak_the_protocol_is_cut_off_and_the_writer_goes_on(
    live_service: LiveService, writer_server: Server
) -> None:
    writer = writer_server.writer_pid(listening=True)
    garbage = [
        b"\x00\x00\x00\x05hello",  # not a pickle
        _framed(pickle.dumps(Path("/"))),  # a class the writer does not load
        _framed(pickle.dumps((1, ((("INSERT", (1,), ((7, False),), True),), None, None, False)))),
        _framed(pickle.dumps((1, ((), {5: 1}, None, False)))),
        b"\xff\xff\xff\xff",  # a frame larger than any program
    ]
    for message in garbage:
        with writer_connect(str(writer_server.writer_socket), timeout=10) as sock:
            sock.sendall(message)
            assert sock.recv(100) == b""  # disconnected, nothing answered
    invoice = live_service.unique("WRITER-AFTER")
    reply = send(writer_server, ORDER, fields=order_fields(live_service.account, invoice))
    assert success(reply)["Status"] == "PROCESSING"
    assert writer_server.writer_pid(listening=True) == writer


def _framed(body: bytes) -> bytes:
    return struct.pack("!I", len(body)) + body


def orders_invoices_and_charges(service: LiveService, publisher_id: int) -> tuple[int, ...]:
    """The publisher's orders, their distinct invoices and the charges of its orders."""
    counted = service.shell(
        "from pressrun.orders.models import Order; "
        "from pressrun.billing.models import LedgerEntry; "
        f"orders = Order.objects.filter(publisher_id={publisher_id}); "
        "print(orders.count(), orders.values('invoice').distinct().count(), "
        f"LedgerEntry.objects.filter(publisher_id={publisher_id}, order__isnull=False).count())"
    )
    return tuple(int(number) for number in counted.split())
