"""The SQLite writer's programs and messages (core/sqlite/writer.py), on a plain SQLite
connection: what a program writes, what it refuses, and that a refused program leaves
nothing of itself in its group. The writer as a process, behind `pressrun serve`, is in
tests/e2e/test_sqlite_writer_http.py."""

from __future__ import annotations

import logging
import os
import pickle
import selectors
import socket
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest

from pressrun.core.sqlite import writer
from pressrun.core.sqlite.writer import Answer, InsertStep, WriteProgram

PENDING = "-7000000000000000001"


@pytest.fixture
def cursor() -> Iterator[sqlite3.Cursor]:
    database = sqlite3.connect(":memory:", isolation_level=None)
    database.executescript(
        """
        CREATE TABLE account (id INTEGER PRIMARY KEY, balance INTEGER, name TEXT);
        CREATE TABLE "order" (id INTEGER PRIMARY KEY, invoice TEXT UNIQUE, paid INTEGER);
        CREATE TABLE line (id INTEGER PRIMARY KEY, order_id INTEGER, note TEXT);
        CREATE TABLE task (id TEXT PRIMARY KEY, args TEXT);
        INSERT INTO account VALUES (1, 100, 'a');
        BEGIN;
        """
    )
    yield database.cursor()
    database.close()


def order_program(invoice: str, *, paid: bool, amount: int = 6, name: str = "a") -> WriteProgram:
    return WriteProgram(
        inserts=(
            InsertStep('INSERT INTO "order" (invoice, paid) VALUES (%s, %s)', (invoice, paid)),
            InsertStep(
                "INSERT INTO line (order_id, note) VALUES (%s, %s)",
                (int(PENDING), f"line of {PENDING}"),
                pending=((0, False), (1, True)),
            ),
            InsertStep(
                "INSERT INTO task (id, args) VALUES (%s, %s)",
                (f"task-{invoice}", f'{{"order_id": {PENDING}}}'),
                pending=((1, True),),
                generated_pk=False,
            ),
        ),
        check=("SELECT EXISTS(SELECT 1 FROM account WHERE id = %s AND name IS %s)", (1, name)),
        debit=(
            "UPDATE account SET balance = balance - %s WHERE id = 1 AND balance >= %s",
            (amount, amount),
        ),
        expect_paid=paid,
    )


def rows(cursor: sqlite3.Cursor) -> tuple[list[tuple[object, ...]], ...]:
    return tuple(
        cursor.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
        for table in ('"order"', "line", "task", "account")
    )


def test_a_program_writes_its_rows_with_the_first_rows_id_where_the_others_wait(
    cursor: sqlite3.Cursor,
) -> None:
    answer = writer._in_savepoint(cursor, order_program("A", paid=True))
    assert answer == Answer(writer.COMMITTED, (1, 1, None))
    assert rows(cursor) == (
        [(1, "A", 1)],
        [(1, 1, "line of 1")],
        [("task-A", '{"order_id": 1}')],
        [(1, 94, "a")],
    )


def test_rows_changed_since_the_program_was_made_write_nothing(cursor: sqlite3.Cursor) -> None:
    before = rows(cursor)
    answer = writer._in_savepoint(cursor, order_program("A", paid=True, name="renamed"))
    assert answer == Answer(writer.ROWS_CHANGED, detail=0)
    assert rows(cursor) == before


def test_a_debit_deciding_against_the_guess_is_undone_with_the_program(
    cursor: sqlite3.Cursor,
) -> None:
    before = rows(cursor)
    # The balance covers it, but the program was made for an order held.
    assert writer._in_savepoint(cursor, order_program("A", paid=False)) == Answer(
        writer.OTHER_OUTCOME
    )
    # It does not cover it, but the program was made for an order paid.
    assert writer._in_savepoint(cursor, order_program("B", paid=True, amount=101)) == Answer(
        writer.OTHER_OUTCOME
    )
    assert rows(cursor) == before


def test_a_duplicate_leaves_nothing_of_its_program_and_keeps_the_groups_others(
    cursor: sqlite3.Cursor,
) -> None:
    first = writer._in_savepoint(cursor, order_program("A", paid=True))
    again = writer._in_savepoint(cursor, order_program("A", paid=True))
    third = writer._in_savepoint(cursor, order_program("C", paid=True))
    assert first.kind == writer.COMMITTED
    assert again.kind == writer.DUPLICATE
    assert "UNIQUE" in again.detail
    assert third == Answer(writer.COMMITTED, (2, 2, None))
    orders, lines, tasks, accounts = rows(cursor)
    assert orders == [(1, "A", 1), (2, "C", 1)]
    assert [task for task, _ in tasks] == ["task-A", "task-C"]
    assert lines == [(1, 1, "line of 1"), (2, 2, "line of 2")]
    assert accounts == [(1, 88, "a")]  # the duplicate's debit undone with it


def test_a_message_carries_a_program_as_it_was_its_statements_once_per_connection() -> None:
    program = order_program("A", paid=True)
    known: dict[str, int] = {}
    first, second = program.as_message(known), program.as_message(known)
    assert [sql for sql, *_ in first[0]] == [step.sql for step in program.inserts]
    assert [sql for sql, *_ in second[0]] == [0, 1, 2]  # by their number
    assert (second[1][0], second[2][0]) == (3, 4)  # the check's and the debit's
    buffer = bytearray(writer._frame(first) + writer._frame(second))
    buffer += writer._frame(("partial",))[:5]
    statements: list[str] = []
    loaded = [WriteProgram.from_message(message, statements) for message in writer._frames(buffer)]
    assert loaded == [program, program]
    assert len(statements) == 5
    assert len(buffer) == 5  # the incomplete frame waits for the rest


def test_a_message_makes_no_object_but_plain_values() -> None:
    assert writer._load(pickle.dumps((Decimal("6.00"), "x", 1, None))) == (
        Decimal("6.00"),
        "x",
        1,
        None,
    )

    class Shell:
        def __reduce__(self) -> tuple[object, ...]:
            return (os.system, ("true",))

    with pytest.raises(pickle.UnpicklingError, match="not allowed"):
        writer._load(pickle.dumps(Shell()))


def test_a_frame_larger_than_any_program_is_refused() -> None:
    buffer = bytearray(writer._HEADER.pack(writer._MAX_FRAME + 1))
    with pytest.raises(ValueError, match="a frame of"):
        list(writer._frames(buffer))


def test_a_writer_that_is_not_listening_is_unavailable(tmp_path: os.PathLike[str]) -> None:
    path = os.path.join(tmp_path, "nobody.writer")
    with pytest.raises(writer.WriterUnavailable):
        writer.writer_submit(path, order_program("A", paid=True))


def test_a_program_that_does_not_hold_together_fails_alone(cursor: sqlite3.Cursor) -> None:
    good = order_program("A", paid=True)
    # Its check reads no row at all: refused, and its debit (none ran) and rows with it.
    no_row = WriteProgram(
        inserts=good.inserts,
        check=("SELECT 1 FROM account WHERE id = %s", (99,)),
        debit=good.debit,
        expect_paid=True,
    )
    before = rows(cursor)
    answer = writer._in_savepoint(cursor, no_row)
    assert answer.kind == writer.FAILED
    assert answer.detail.startswith("TypeError")
    assert rows(cursor) == before
    assert writer._in_savepoint(cursor, good).kind == writer.COMMITTED


@pytest.mark.parametrize(
    "step",
    [
        InsertStep("INSERT INTO line (order_id) VALUES (%s)", (1,), pending=((3, False),)),
        InsertStep("INSERT INTO line (order_id) VALUES (%s)", (1,), pending=((0, True),)),
        InsertStep("INSERT INTO line (order_id) VALUES (%s)", [1]),  # type: ignore[arg-type]
    ],
)
def test_a_program_the_writer_cannot_run_is_refused_before_it_runs(step: InsertStep) -> None:
    with pytest.raises(ValueError, match=r"statement|id.s place"):
        writer._check_program(WriteProgram(inserts=(step,)))


def test_a_writer_running_as_another_user_is_not_given_orders(
    tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The orders' data goes to the writer and its answers are believed: a process listening
    at the writer's path as another user (here: this process, seen as another user) gets
    nothing, and the order is written around it."""
    path = os.path.join(tmp_path, "impostor.writer")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as impostor:
        with writer._short_address(path) as address:
            impostor.bind(address)
        impostor.listen()
        monkeypatch.setattr(writer.os, "geteuid", lambda: os.getuid() + 1)
        with pytest.raises(writer.WriterUnavailable, match="runs as another user"):
            writer.writer_submit(path, order_program("A", paid=True))
        impostor.settimeout(5)
        accepted, _ = impostor.accept()
        with accepted:
            accepted.settimeout(5)
            assert accepted.recv(100) == b""  # closed without a byte of the program
    assert path not in writer._connections.by_path


class GatheringWriter:
    """The writer's side of `_gather`: a selector with clients connected by socket pairs,
    each client's other end a web process's thread."""

    def __init__(self, clients: int) -> None:
        self.selector = selectors.DefaultSelector()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.clients: list[writer._Client] = []
        self.threads: list[socket.socket] = []
        for _ in range(clients):
            ours, theirs = socket.socketpair()
            ours.setblocking(False)
            client = writer._Client(ours)
            self.selector.register(ours, selectors.EVENT_READ, client)
            self.clients.append(client)
            self.threads.append(theirs)
        self.sent: list[int] = [0] * clients
        self.pending: list[tuple[writer._Client, WriteProgram]] = []

    def send(self, number: int, invoice: str) -> None:
        """Client `number` sends a program (as `writer_submit` does)."""
        self.sent[number] += 1
        program = order_program(invoice, paid=True)
        frame = writer._frame((self.sent[number], program.as_message({})))
        self.threads[number].sendall(frame)

    def take(self, programs: int = 1) -> None:
        """Wait for the next `programs` programs to arrive (10 s at most)."""
        wanted = len(self.pending) + programs
        deadline = time.monotonic() + 10
        while len(self.pending) < wanted:
            assert time.monotonic() < deadline, "a program sent never arrived"
            writer._take(self.listener, self.selector, self.pending, 1)

    def gather(self, linger: float) -> float:
        """Seconds `_gather` waited."""
        started = time.monotonic()
        writer._gather(self.listener, self.selector, self.pending, linger)
        return time.monotonic() - started

    def invoices(self) -> list[str]:
        return [str(program.inserts[0].params[0]) for _, program in self.pending]

    def close(self) -> None:
        self.selector.close()
        self.listener.close()
        for client in self.clients:
            client.sock.close()
        for sock in self.threads:
            sock.close()


@pytest.fixture
def gathering() -> Iterator[Callable[[int], GatheringWriter]]:
    made: list[GatheringWriter] = []

    def make(clients: int) -> GatheringWriter:
        made.append(GatheringWriter(clients))
        return made[-1]

    yield make
    for each in made:
        each.close()


def test_a_group_waits_for_an_active_client_and_stops_once_every_one_has_sent(
    gathering: Callable[[int], GatheringWriter], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two web processes' threads under load: the second's program, sent while the first's
    waits, joins its group; with both waiting for their answers no other can come, so the
    group is written then, long before the linger is out."""
    monkeypatch.setattr(writer, "ACTIVE_SECONDS", 60.0)  # however slow this machine
    side = gathering(2)
    side.clients[1].last_sent = time.monotonic()  # it sent one a moment ago
    side.send(0, "A")
    side.take()
    sender = threading.Timer(0.005, side.send, args=(1, "B"))
    sender.start()
    try:
        waited = side.gather(linger=30.0)
    finally:
        sender.join()
    assert side.invoices() == ["A", "B"]
    assert waited < 20  # ended by the second program, not by the linger
    assert [client.waiting_for for client in side.clients] == [1, 1]


def test_a_group_does_not_wait_for_a_client_that_has_been_quiet(
    gathering: Callable[[int], GatheringWriter],
) -> None:
    """A thread that has sent nothing lately (a quiet installation, a process between
    bursts) is not waited for: the lone order is written at once."""
    side = gathering(3)
    side.clients[1].last_sent = time.monotonic() - 2 * writer.ACTIVE_SECONDS
    side.send(0, "A")
    side.take()
    waited = side.gather(linger=30.0)
    assert side.invoices() == ["A"]
    assert waited < 20


def test_a_group_waits_no_longer_than_the_linger(
    gathering: Callable[[int], GatheringWriter],
) -> None:
    """An active thread that sends nothing more within the linger: the group is written
    with what it has when the linger is out."""
    side = gathering(2)
    side.clients[1].last_sent = time.monotonic()
    side.send(0, "A")
    side.take()
    assert side.gather(linger=0.01) >= 0.01  # the linger, waited out
    assert side.invoices() == ["A"]


def test_a_group_gathers_no_more_than_its_most(
    gathering: Callable[[int], GatheringWriter], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer, "MAX_GROUP", 2)
    side = gathering(3)
    for number, invoice in enumerate("ABC"):
        side.clients[number].last_sent = time.monotonic()
        if number < 2:
            side.send(number, invoice)
    side.take(2)
    # The third client is active, but the group is full: written at once.
    assert side.gather(linger=30.0) < 20
    assert side.invoices() == ["A", "B"]


def test_a_client_that_goes_away_while_a_group_gathers_is_not_waited_for(
    gathering: Callable[[int], GatheringWriter], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer, "ACTIVE_SECONDS", 60.0)
    side = gathering(2)
    side.clients[1].last_sent = time.monotonic()
    side.send(0, "A")
    side.take()
    closer = threading.Timer(0.005, side.threads[1].close)
    closer.start()
    try:
        waited = side.gather(linger=30.0)
    finally:
        closer.join()
    assert waited < 20
    assert side.invoices() == ["A"]
    assert side.clients[1].sock.fileno() < 0  # dropped by the writer


class SupervisedStarts:
    """A stand-in writer command that notes each start in a file and exits at once."""

    def __init__(self, directory: os.PathLike[str]) -> None:
        self.log = os.path.join(directory, "starts")
        script = f"open({self.log!r}, 'a').write('start\\n')"
        self.command = [sys.executable, "-c", script]

    def count(self) -> int:
        try:
            with open(self.log) as log:
                return len(log.readlines())
        except FileNotFoundError:
            return 0


def supervised(
    starts: SupervisedStarts, monkeypatch: pytest.MonkeyPatch, **delays: float
) -> writer.WriterSupervisor:
    for name, value in {"POLL_SECONDS": 0.02, **delays}.items():
        monkeypatch.setattr(writer.WriterSupervisor, name, value)
    return writer.WriterSupervisor("unused", command=starts.command)


def restart_delays(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage().rsplit(" in ", 1)[1]
        for record in caplog.records
        if record.getMessage().startswith("The SQLite writer exited (0); starting it again")
    ]


def wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, "not within 30 s"
        time.sleep(0.02)


@pytest.mark.parametrize(
    ("steady_seconds", "delays"),
    [
        (60, ["0.1 s.", "0.2 s.", "0.4 s.", "0.4 s."]),
        (0, ["0.1 s."] * 4),
    ],
    ids=["dying within a minute: later each time", "having lived long: after the first delay"],
)
def test_a_writer_that_exits_is_started_again_after_its_back_off(
    tmp_path: os.PathLike[str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    steady_seconds: float,
    delays: list[str],
) -> None:
    caplog.set_level(logging.WARNING, logger=writer.__name__)
    starts = SupervisedStarts(tmp_path)
    with supervised(
        starts, monkeypatch, FIRST_DELAY=0.1, LONGEST_DELAY=0.4, STEADY_SECONDS=steady_seconds
    ):
        wait_for(lambda: starts.count() >= 5)
    assert restart_delays(caplog)[:4] == delays


def test_a_supervisor_stopped_while_waiting_to_start_again_starts_nothing_more(
    tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=writer.__name__)
    starts = SupervisedStarts(tmp_path)
    with supervised(starts, monkeypatch, FIRST_DELAY=3600, STEADY_SECONDS=60) as supervisor:
        wait_for(lambda: restart_delays(caplog) == ["3600.0 s."])
    # The supervisor's thread, waiting an hour to start the writer again, ended with the block.
    assert not supervisor._thread.is_alive()
    assert starts.count() == 1


def test_a_writer_that_cannot_be_started_again_is_tried_again_later_each_time(
    tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=writer.__name__)
    starts = SupervisedStarts(tmp_path)
    with supervised(
        starts, monkeypatch, FIRST_DELAY=0.3, LONGEST_DELAY=0.6, STEADY_SECONDS=60
    ) as supervisor:
        # Gone before its first start again (0.3 s after the first writer exits).
        supervisor.command = [os.path.join(tmp_path, "no-such-program")]
        wait_for(lambda: len(restart_delays(caplog)) >= 3)
    assert restart_delays(caplog)[:3] == ["0.3 s.", "0.6 s.", "0.6 s."]
    failures = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert failures[:2] == [failures[0]] * 2
    assert failures[0].startswith("The SQLite writer could not be started: ")
    assert starts.count() == 1
