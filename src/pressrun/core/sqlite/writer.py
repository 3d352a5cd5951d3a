"""A writer process for SQLite (PRESSRUN_SQLITE_WRITER): one process writes what the web
processes have prepared, whatever arrives together in one transaction.

SQLite has one write lock per database, and every process that writes its own orders takes
it in turn: the lock changes hands at every order, and each writer finds the database
changed by another and starts from a cold page cache. A process of its own, fed statements
the web processes compiled, writes what has arrived from all of them in one transaction
(one lock hand-off, one `COMMIT`), each order in a savepoint of its own, with no
application Python between the statements: measured, from 4 web processes on it holds the
lock less per order and takes more orders per second than the processes writing their own
(docs/performance.md, "fourteenth" and "sixteenth round"). With one or two web processes it
costs a round trip and gains nothing, so it is off by default.

What it runs is a `WriteProgram`: plain values (each statement's SQL and parameters, where
the first row's id goes in the others), so the writer needs none of the callers' models,
and it decides nothing a caller's rules depend on but what the statements say:

- `check`: one `SELECT` of flags, every one true, or the rows the program was computed from
  changed (`ROWS_CHANGED`, naming the first that did);
- `debit`: an `UPDATE` that changes one row or none; the program says which it expects
  (`expect_paid`), and the other outcome is not written (`OTHER_OUTCOME`): the caller writes
  it itself;
- `inserts`: the rows, the first one's new id put where the others wait for it
  (`PENDING_ID`, as in `core.prepared`); a constraint failing one (a duplicate invoice) undoes
  the program's savepoint (`DUPLICATE`).

A program's answer is sent only after its transaction's `COMMIT` (`COMMITTED` with the rows'
ids, or why it wrote nothing). A failed `COMMIT` has each program of the group written again
alone. The connection's write lock (`core.sqlite.base`) is the one every other writer takes,
so the web processes' own writes (an order this path does not take, a cart's delivery, an
operator's change) interleave with the writer's groups as with each other's.

A caller that got no answer (the writer died with its program, or the connection broke)
does not know whether the program was committed: it must find out under the write lock
before it writes anything itself (intake looks its order up by its unique customer token).

The messages are length-prefixed pickles of plain values on a Unix socket beside the
database (`<database>.writer`, mode 0600); both sides load them with an unpickler that
makes no object but the builtin values and `Decimal`.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import pickle
import selectors
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

from pressrun.core.faults import fault_point

logger = logging.getLogger(__name__)

# Programs written in one transaction at most: a group's answers all wait for its COMMIT.
MAX_GROUP = 32
# The id the first row gets, where the others wait for it (core.prepared.PENDING_ID).
_PENDING_ID = -7_000_000_000_000_000_001
_PENDING_TEXT = str(_PENDING_ID)
_HEADER = struct.Struct("!I")
# Far above any program (an order's are a few KiB): a larger frame is a broken peer.
_MAX_FRAME = 4 * 1024 * 1024

COMMITTED = "committed"
ROWS_CHANGED = "rows_changed"
OTHER_OUTCOME = "other_outcome"
DUPLICATE = "duplicate"
FAILED = "failed"


@dataclass(frozen=True, slots=True)
class InsertStep:
    """One row's INSERT: `sql` with `%s` placeholders, its `params` as the driver takes them,
    and where the program's first row's id goes (`pending`: the parameter's index, and
    whether it goes into a text in place of `PENDING_ID`'s digits rather than as the value)."""

    sql: str
    params: tuple[Any, ...]
    pending: tuple[tuple[int, bool], ...] = ()
    # False when the row brings its own key (a UUID): its answered id is None.
    generated_pk: bool = True


@dataclass(frozen=True, slots=True)
class WriteProgram:
    """What a caller wants written atomically, as plain values (see the module's docstring)."""

    inserts: tuple[InsertStep, ...]
    check: tuple[str, tuple[Any, ...]] | None = None
    debit: tuple[str, tuple[Any, ...]] | None = None
    expect_paid: bool = False

    def as_message(self) -> tuple[Any, ...]:
        return (
            tuple((s.sql, s.params, s.pending, s.generated_pk) for s in self.inserts),
            self.check,
            self.debit,
            self.expect_paid,
        )

    @classmethod
    def from_message(cls, message: Any) -> WriteProgram:
        inserts, check, debit, expect_paid = message
        return cls(
            inserts=tuple(
                InsertStep(sql, tuple(params), tuple(pending), bool(generated))
                for sql, params, pending, generated in inserts
            ),
            check=None if check is None else (check[0], tuple(check[1])),
            debit=None if debit is None else (debit[0], tuple(debit[1])),
            expect_paid=bool(expect_paid),
        )


class Answer(NamedTuple):
    """What became of a program: `kind` (COMMITTED, ROWS_CHANGED, OTHER_OUTCOME, DUPLICATE,
    FAILED), the rows' ids when committed, and for ROWS_CHANGED the index of the first row
    of the check that changed, for DUPLICATE and FAILED the database's message."""

    kind: str
    ids: tuple[int | None, ...] = ()
    detail: Any = None


def socket_path(database_name: str) -> str:
    """The writer's socket for the database file `database_name` (its NAME setting)."""
    return f"{database_name}.writer"


# --- messages -------------------------------------------------------------------------------


class _PlainUnpickler(pickle.Unpickler):
    """Loads the builtin values (tuples, lists, texts, numbers, None) and `Decimal`; refuses
    any other class, so a message can make no object that runs code."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("decimal", "Decimal"):
            return Decimal
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a writer's message")


def _frame(value: Any) -> bytes:
    body = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(body)) + body


def _load(body: bytes) -> Any:
    return _PlainUnpickler(io.BytesIO(body)).load()


def _frames(buffer: bytearray) -> Iterator[Any]:
    """The complete frames at the start of `buffer`, removed from it."""
    while len(buffer) >= _HEADER.size:
        (length,) = _HEADER.unpack_from(buffer)
        if length > _MAX_FRAME:
            raise ValueError(f"a frame of {length} bytes")
        end = _HEADER.size + length
        if len(buffer) < end:
            return
        body = bytes(buffer[_HEADER.size : end])
        del buffer[:end]
        yield _load(body)


# --- the client (a web process) -------------------------------------------------------------


class WriterUnavailable(Exception):
    """The program was not sent (no writer listening, or the connection failed before the
    whole program went out): it was not written, and the caller writes it itself."""


class AnswerLost(Exception):
    """The program went out and no answer came back (the writer died, or the connection
    broke): it may or may not be committed."""


class _Connections(threading.local):
    def __init__(self) -> None:
        self.by_path: dict[str, socket.socket] = {}


_connections = _Connections()


@contextlib.contextmanager
def _short_address(path: str) -> Iterator[str]:
    """`path` as a Unix socket address: a socket's address is at most 107 bytes, and a data
    directory may be deeper; then the path goes through a descriptor of its directory
    (`/proc/self/fd/N/name`, Linux)."""
    if len(os.fsencode(path)) < 100:
        yield path
        return
    directory = os.open(os.path.dirname(path) or ".", os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{directory}/{os.path.basename(path)}"
    finally:
        os.close(directory)


def _connect(path: str) -> socket.socket:
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        with _short_address(path) as address:
            client.connect(address)
    except OSError:
        client.close()
        raise
    return client


def _forget(path: str) -> None:
    client = _connections.by_path.pop(path, None)
    if client is not None:
        client.close()


def writer_submit(path: str, program: WriteProgram) -> Answer:
    """Have the writer listening at `path` write `program`; its answer, sent after the
    transaction that ran it committed. Raises `WriterUnavailable` (not written) or
    `AnswerLost` (perhaps written). One program at a time per thread: the thread's connection
    is kept for its next program."""
    frame = _frame(program.as_message())
    client = _connections.by_path.get(path)
    for attempt in (1, 2):
        if client is None:
            try:
                client = _connect(path)
            except OSError as exc:
                raise WriterUnavailable(str(exc)) from exc
            _connections.by_path[path] = client
        try:
            client.sendall(frame)
            break
        except OSError as exc:
            # A connection the writer closed (it restarted): sendall failed before the whole
            # program went out, so the writer runs none of it. Once more on a new one.
            _forget(path)
            client = None
            if attempt == 2:
                raise WriterUnavailable(str(exc)) from exc
    assert client is not None
    buffer = bytearray()
    try:
        while True:
            chunk = client.recv(65536)
            if not chunk:
                raise AnswerLost("the writer closed the connection")
            buffer += chunk
            for message in _frames(buffer):
                kind, ids, detail = message
                return Answer(kind, tuple(ids), detail)
    except (OSError, ValueError, pickle.UnpicklingError) as exc:
        _forget(path)
        raise AnswerLost(str(exc)) from exc
    except AnswerLost:
        _forget(path)
        raise


_warned_at: dict[str, float] = {}


def written_around_warn(path: str, error: Exception) -> None:
    """Say, at most once a minute per process, that its orders are written around the
    writer (`WriterUnavailable`)."""
    now = time.monotonic()
    if now - _warned_at.get(path, -60.0) >= 60:
        _warned_at[path] = now
        logger.warning(
            "The SQLite writer is not answering at %s (%s): this process writes its orders itself.",
            path,
            error,
        )


# --- the writer -----------------------------------------------------------------------------


def _qmark(sql: str) -> str:
    from pressrun.core.prepared import _qmark_statement

    return _qmark_statement(sql)


def program_run(cursor: sqlite3.Cursor, program: WriteProgram) -> Answer:
    """Run `program`'s statements on `cursor`, in the transaction (and savepoint) its caller
    opened; what it wrote stands only if the answer is COMMITTED. Raises the driver's
    errors (an `IntegrityError` for a failed constraint)."""
    if program.check is not None:
        sql, check_params = program.check
        cursor.execute(_qmark(sql), check_params)
        flags = cursor.fetchone()
        for index, holds in enumerate(flags):
            if not holds:
                return Answer(ROWS_CHANGED, detail=index)
    if program.debit is not None:
        sql, debit_params = program.debit
        cursor.execute(_qmark(sql), debit_params)
        charged = cursor.rowcount == 1
    else:
        charged = False
    if charged != program.expect_paid:
        return Answer(OTHER_OUTCOME)
    ids: list[int | None] = []
    first_id: int | None = None
    for step in program.inserts:
        params: Sequence[Any] = step.params
        if step.pending:
            assert first_id is not None, "a row waits for an id no row before it has"
            listed = list(params)
            for index, as_text in step.pending:
                listed[index] = (
                    listed[index].replace(_PENDING_TEXT, str(first_id)) if as_text else first_id
                )
            params = listed
        cursor.execute(_qmark(step.sql), params)
        new_id = int(cursor.lastrowid) if step.generated_pk and cursor.lastrowid else None
        if first_id is None:
            first_id = new_id
        ids.append(new_id)
    return Answer(COMMITTED, tuple(ids))


@dataclass
class GroupStats:
    """What the writer's groups have held the write lock for (the benchmark's census)."""

    groups: int = 0
    programs: int = 0
    lock_seconds: float = 0.0


def group_write(programs: Sequence[WriteProgram], stats: GroupStats | None = None) -> list[Answer]:
    """Write `programs` in one transaction on this process's Django connection (its write
    lock taken at `BEGIN IMMEDIATE`), each in a savepoint of its own; the answers, in order,
    once committed. A failed `COMMIT` writes each program again in a transaction of its own."""
    from django.db import DatabaseError, connection, transaction

    try:
        started = time.perf_counter()
        with transaction.atomic():
            cursor = connection.connection.cursor()
            answers = [_in_savepoint(cursor, program) for program in programs]
            fault_point("sqlite_writer_before_commit")
        if stats is not None:
            stats.groups += 1
            stats.programs += len(programs)
            stats.lock_seconds += time.perf_counter() - started
        return answers
    except (DatabaseError, sqlite3.Error) as exc:
        if len(programs) == 1:
            return [Answer(FAILED, detail=str(exc))]
        logger.warning("A group of %d orders did not commit (%s): each alone.", len(programs), exc)
        return [group_write([program], stats)[0] for program in programs]


def _in_savepoint(cursor: sqlite3.Cursor, program: WriteProgram) -> Answer:
    cursor.execute('SAVEPOINT "writer"')
    try:
        answer = program_run(cursor, program)
    except sqlite3.IntegrityError as exc:
        answer = Answer(DUPLICATE, detail=str(exc))
    except sqlite3.Error as exc:
        answer = Answer(FAILED, detail=str(exc))
    if answer.kind != COMMITTED:
        cursor.execute('ROLLBACK TO "writer"')
    cursor.execute('RELEASE "writer"')
    return answer


class _Client:
    __slots__ = ("buffer", "sock", "waiting")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()
        self.waiting = 0


def writer_serve(
    path: str, *, stop: threading.Event | None = None, parent: int | None = None
) -> GroupStats:
    """Listen at `path` and write what arrives until `stop` is set (or SIGTERM/SIGINT in the
    main thread, or the process `parent` is gone): whatever has arrived when a group
    starts, at most MAX_GROUP programs."""
    from django.db import connection

    stop = stop or threading.Event()
    stats = GroupStats()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_mask = os.umask(0o177)
    try:
        with _short_address(path) as address:
            listener.bind(address)
    finally:
        os.umask(old_mask)
    listener.listen(256)
    listener.setblocking(False)
    # A savepoint's copies of the pages a program changes go to a temporary file past
    # 64 KiB otherwise (docs/performance.md, "fourteenth round").
    connection.ensure_connection()
    connection.connection.execute("PRAGMA temp_store=MEMORY")
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, None)
    pending: list[tuple[_Client, WriteProgram]] = []
    if threading.current_thread() is threading.main_thread():
        for number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(number, lambda *_: stop.set())
    logger.info("SQLite writer listening at %s", path)
    try:
        while not stop.is_set():
            if parent is not None and os.getppid() != parent:
                # `pressrun serve` died without stopping it (kill -9): its next start has a
                # writer of its own.
                logger.warning("The process that started the SQLite writer is gone: stopping.")
                break
            for key, _ in selector.select(0 if pending else 0.5):
                if key.data is None:
                    _accept(listener, selector)
                else:
                    pending.extend(_receive(key.data, selector))
            if not pending:
                continue
            group, pending = pending[:MAX_GROUP], pending[MAX_GROUP:]
            answers = group_write([program for _, program in group], stats)
            fault_point("sqlite_writer_committed_before_answer")
            for (client, _), answer in zip(group, answers, strict=True):
                client.waiting -= 1
                _answer(client, answer, selector)
    finally:
        selector.close()
        listener.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        connection.close()
    return stats


def _accept(listener: socket.socket, selector: selectors.BaseSelector) -> None:
    with contextlib.suppress(BlockingIOError):
        while True:
            sock, _ = listener.accept()
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ, _Client(sock))


def _receive(
    client: _Client, selector: selectors.BaseSelector
) -> list[tuple[_Client, WriteProgram]]:
    try:
        chunk = client.sock.recv(262144)
    except BlockingIOError:
        return []
    except OSError:
        chunk = b""
    if not chunk:
        # The client is gone; a program of its own not yet written still is (it may be
        # waiting to find out), and its answer goes nowhere.
        _drop(client, selector)
        return []
    client.buffer += chunk
    received = []
    try:
        for message in _frames(client.buffer):
            received.append((client, WriteProgram.from_message(message)))
    except (ValueError, TypeError, pickle.UnpicklingError, EOFError) as exc:
        logger.warning("A malformed message to the SQLite writer (%s): connection closed.", exc)
        _drop(client, selector)
        return received
    client.waiting += len(received)
    return received


def _answer(client: _Client, answer: Answer, selector: selectors.BaseSelector) -> None:
    if client.sock.fileno() < 0:
        return
    try:
        # One program at a time per connection: the answer is small, and the socket's
        # buffer is empty when it is sent.
        client.sock.sendall(_frame(tuple(answer)))
    except OSError:
        _drop(client, selector)


def _drop(client: _Client, selector: selectors.BaseSelector) -> None:
    if client.sock.fileno() >= 0:
        selector.unregister(client.sock)
        client.sock.close()


# --- supervision (`pressrun serve`) ---------------------------------------------------------


class WriterSupervisor:
    """Runs `pressrun sqlitewriter` as a child process for as long as the block lasts, and
    starts it again when it exits (a second later). The web processes write their own orders
    while it is not listening."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._stop = threading.Event()
        self._process: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._run, name="sqlite-writer", daemon=True)

    def __enter__(self) -> WriterSupervisor:
        self._start()
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        self._thread.join(timeout=5)

    def _start(self) -> None:
        self._process = subprocess.Popen(  # noqa: S603  (our own command)
            [sys.executable, "-m", "pressrun.cli", "sqlitewriter", "--parent", str(os.getpid())]
        )

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            process = self._process
            if process is None or process.poll() is None:
                continue
            logger.warning("The SQLite writer exited (%s); starting it again.", process.returncode)
            if self._stop.wait(1.0):
                return
            self._start()


def writer_ready(path: str, timeout: float) -> bool:
    """Whether a writer accepts connections at `path` within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            _connect(path).close()
            return True
        except OSError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
