"""A writer process for SQLite (PRESSRUN_SQLITE_WRITER): one process writes what the web
processes have prepared, whatever arrives together in one transaction.

SQLite has one write lock per database, and every process that writes its own orders takes
it in turn: the lock changes hands at every order, and each writer finds the database
changed by another and starts from a cold page cache. A process of its own, fed statements
the web processes compiled, writes what has arrived from all of them in one transaction
(one lock hand-off, one `COMMIT`), with no application Python between the statements
(and no savepoint, unless one of the group's orders fails: `group_write`). With replayed
statements, from 4 processes on it held the lock less per order and took more orders per
second than the processes writing their own (docs/performance.md, "fourteenth round");
served on 2 cores, groups formed only once it waited a little for them (`_gather`), and the
processes writing their own still took more orders a second ("sixteenth" and "eighteenth
round"), so it is off by default.

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
  what the program wrote (`DUPLICATE`).

A program's answer is sent only after its transaction's `COMMIT` (`COMMITTED` with the rows'
ids, or why it wrote nothing). After a failed `COMMIT` every program of the group is
answered UNKNOWN, and each caller finds out whether its order was written (below). The
connection's write lock (`core.sqlite.base`) is the one every other writer takes, so the
web processes' own writes (an order this path does not take, a cart's delivery, an
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
import fcntl
import io
import logging
import math
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
from typing import Any, NamedTuple, cast

from pressrun.core.faults import fault_point
from pressrun.core.prepared import PENDING_ID, qmark_statement

logger = logging.getLogger(__name__)

# Programs written in one transaction at most: a group's answers all wait for its COMMIT.
MAX_GROUP = 32
# A client that sent a program this recently, and has none waiting, may send another while
# a group gathers (`_gather`); one quiet for longer is not waited for. The wait's setting
# (settings.SQLITE_WRITER_WAIT_MS) is capped at it: a longer wait would outlast the
# activity it waits on.
ACTIVE_SECONDS = 0.05
# Where the first row's id goes in the others' texts (core.prepared.PENDING_ID).
_PENDING_TEXT = str(PENDING_ID)
_HEADER = struct.Struct("!I")
# Far above any program (an order's are a few KiB): a larger frame is a broken peer.
_MAX_FRAME = 4 * 1024 * 1024

COMMITTED = "committed"
ROWS_CHANGED = "rows_changed"
OTHER_OUTCOME = "other_outcome"
DUPLICATE = "duplicate"
FAILED = "failed"
UNKNOWN = "unknown"


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

    def as_message(self, known: dict[str, int]) -> tuple[Any, ...]:
        """The program as a message on a connection whose writer has been sent the
        statements in `known` (by their number on the connection, from 0): those go as
        their number, the others as their text, and are added to `known`. An order's
        statements are the same texts order after order; sent once per connection, they
        are not pickled, sent and read again for each (about a sixth of the writer's
        work)."""

        def ref(sql: str) -> int | str:
            number = known.get(sql)
            if number is not None:
                return number
            known[sql] = len(known)
            return sql

        return (
            tuple((ref(s.sql), s.params, s.pending, s.generated_pk) for s in self.inserts),
            None if self.check is None else (ref(self.check[0]), self.check[1]),
            None if self.debit is None else (ref(self.debit[0]), self.debit[1]),
            self.expect_paid,
        )

    @classmethod
    def from_message(cls, message: Any, statements: list[str]) -> WriteProgram:
        """The program `as_message` made, on a connection whose statements so far are
        `statements` (those it sends as text are added, in order)."""

        def text(ref: Any) -> str:
            if isinstance(ref, str):
                statements.append(ref)
                return ref
            return str(statements[ref])

        inserts, check, debit, expect_paid = message
        return cls(
            inserts=tuple(
                InsertStep(text(sql), tuple(params), tuple(pending), bool(generated))
                for sql, params, pending, generated in inserts
            ),
            check=None if check is None else (text(check[0]), tuple(check[1])),
            debit=None if debit is None else (text(debit[0]), tuple(debit[1])),
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


class _Connection:
    """A thread's connection to a writer, the statements sent on it (`as_message`) and the
    number of its last program, which the writer's answer repeats."""

    __slots__ = ("known", "sent", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.known: dict[str, int] = {}
        self.sent = 0


class _Connections(threading.local):
    def __init__(self) -> None:
        self.by_path: dict[str, _Connection] = {}


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


_PEER_CREDENTIALS = struct.Struct("3i")  # pid, uid, gid (SO_PEERCRED)


def writer_connect(path: str, *, timeout: float | None = None) -> socket.socket:
    """A connection to the writer listening at `path`, whose process must run as this one's
    user: the orders' data goes to it, and its answers are believed. Raises OSError."""
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        client.settimeout(timeout)
        with _short_address(path) as address:
            client.connect(address)
        _, uid, _ = _PEER_CREDENTIALS.unpack(
            client.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEER_CREDENTIALS.size)
        )
        if uid != os.geteuid():
            raise PermissionError(f"the process listening at {path} runs as another user ({uid})")
    except BaseException:
        client.close()
        raise
    return client


def _forget(path: str) -> None:
    connection = _connections.by_path.pop(path, None)
    if connection is not None:
        connection.sock.close()


def writer_submit(path: str, program: WriteProgram, *, timeout: float = 30.0) -> Answer:
    """Have the writer listening at `path` write `program`; its answer, sent after the
    transaction that ran it committed. Raises `WriterUnavailable` (not written) or
    `AnswerLost` (perhaps written; no answer within `timeout` seconds included). One program
    at a time per thread: the thread's connection is kept for its next program, and dropped
    whenever an answer was not read to its end."""
    connection = _connections.by_path.get(path)
    for attempt in (1, 2):
        if connection is None:
            try:
                connection = _Connection(writer_connect(path, timeout=timeout))
            except OSError as exc:
                raise WriterUnavailable(str(exc)) from exc
            _connections.by_path[path] = connection
        connection.sent += 1
        frame = _frame((connection.sent, program.as_message(connection.known)))
        try:
            connection.sock.sendall(frame)
            break
        except OSError as exc:
            # A connection the writer closed (it restarted): sendall failed before the whole
            # program went out, so the writer runs none of it. Once more on a new one.
            _forget(path)
            connection = None
            if attempt == 2:
                raise WriterUnavailable(str(exc)) from exc
        except BaseException:
            _forget(path)
            raise
    assert connection is not None
    buffer = bytearray()
    try:
        while True:
            chunk = connection.sock.recv(65536)
            if not chunk:
                raise AnswerLost("the writer closed the connection")
            buffer += chunk
            for message in _frames(buffer):
                number, kind, ids, detail = message
                if number != connection.sent or buffer:
                    raise AnswerLost(f"an answer to another program ({number})")
                return Answer(kind, tuple(ids), detail)
    except AnswerLost:
        _forget(path)
        raise
    except Exception as exc:
        # A timeout, a broken connection, a malformed answer.
        _forget(path)
        raise AnswerLost(str(exc)) from exc
    except BaseException:
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


def program_run(cursor: sqlite3.Cursor, program: WriteProgram) -> Answer:
    """Run `program`'s statements on `cursor`, in the transaction (and savepoint) its caller
    opened; what it wrote stands only if the answer is COMMITTED. Raises the driver's
    errors (an `IntegrityError` for a failed constraint)."""
    if program.check is not None:
        sql, check_params = program.check
        cursor.execute(qmark_statement(sql), check_params)
        flags = cursor.fetchone()
        for index, holds in enumerate(flags):
            if not holds:
                return Answer(ROWS_CHANGED, detail=index)
    if program.debit is not None:
        sql, debit_params = program.debit
        cursor.execute(qmark_statement(sql), debit_params)
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
        cursor.execute(qmark_statement(step.sql), params)
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
    """Write `programs` in one transaction on this process's connection (its write lock taken
    at `BEGIN IMMEDIATE`, core/sqlite/base.py); the answers, in order, once committed.

    First all together, with no savepoint (`_together`): a savepoint has SQLite keep a copy
    of every page a program changes until it is released, some thirty pages an order, for
    the rare program that fails. When one does not commit (a duplicate, rows changed, the
    debit deciding the other outcome, a program that fails), that transaction is rolled
    back whole; a lone program's answer is then its own, and a group is written again with
    each program in a savepoint of its own (`_each_undoable`), so that one program's failure
    undoes nothing of the others'. When a transaction fails (its `BEGIN`, or its `COMMIT`,
    which a deferred constraint can fail too, and after which SQLite may or may not have
    committed it), every program's answer is UNKNOWN: its caller finds out under the write
    lock, as when no answer came."""
    from django.db import connection

    database = cast(Any, connection)
    lock = database._lock()
    held_before = lock.held_seconds if lock is not None else 0.0
    transactions = 1
    try:
        answers = _together(database, programs)
        if answers is None:
            transactions = 2
            answers = _each_undoable(database, programs)
    except Exception as exc:
        logger.warning("A group of %d orders did not commit: %s", len(programs), exc)
        return [Answer(UNKNOWN, detail=str(exc))] * len(programs)
    finally:
        if stats is not None:
            stats.groups += transactions  # transactions: a group written again counts twice
            stats.programs += len(programs)
            # From the file lock taken to its release (both transactions' when written
            # again), as the census measures a web process's.
            stats.lock_seconds += (lock.held_seconds if lock is not None else 0.0) - held_before
    return answers


class _NotAllCommitted(Exception):
    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.kind)
        self.answer = answer


def _together(database: Any, programs: Sequence[WriteProgram]) -> list[Answer] | None:
    """Every program committed in one transaction, or none (rolled back at the first that
    would not commit): the answers, or for a lone program its answer; None for a group of
    which one did not commit."""
    try:
        with database.write_transaction() as raw:
            cursor = raw.cursor()
            answers = []
            for program in programs:
                answer = _run(cursor, program)
                if answer.kind != COMMITTED:
                    raise _NotAllCommitted(answer)
                answers.append(answer)
            fault_point("sqlite_writer_before_commit")
    except _NotAllCommitted as stopped:
        return [stopped.answer] if len(programs) == 1 else None
    return answers


def _each_undoable(database: Any, programs: Sequence[WriteProgram]) -> list[Answer]:
    with database.write_transaction() as raw:
        cursor = raw.cursor()
        answers = [_in_savepoint(cursor, program) for program in programs]
        fault_point("sqlite_writer_before_commit")
    return answers


def _run(cursor: sqlite3.Cursor, program: WriteProgram) -> Answer:
    """`program_run`, a failed constraint answered DUPLICATE and any other error FAILED;
    whatever it wrote stands only if the answer is COMMITTED."""
    try:
        return program_run(cursor, program)
    except sqlite3.IntegrityError as exc:
        return Answer(DUPLICATE, detail=str(exc))
    except Exception as exc:
        # A statement the database refused, or a program that does not hold together (its
        # check reading no row, a text where an id goes).
        return Answer(FAILED, detail=f"{type(exc).__name__}: {exc}")


def _in_savepoint(cursor: sqlite3.Cursor, program: WriteProgram) -> Answer:
    """`_run` in a savepoint that keeps its writes only if COMMITTED: one program's failure
    undoes nothing of its group's others (a failed UNIQUE, NOT NULL or CHECK constraint;
    the foreign keys are deferred to the COMMIT, see `group_write`)."""
    cursor.execute('SAVEPOINT "writer"')
    answer = _run(cursor, program)
    if answer.kind != COMMITTED:
        cursor.execute('ROLLBACK TO "writer"')
    cursor.execute('RELEASE "writer"')
    return answer


class _Client:
    """A web process's thread connected to the writer: what it sent not yet read as whole
    programs, its statements so far (`WriteProgram.from_message`), and the number of the
    program it waits for an answer to (0: none)."""

    __slots__ = ("buffer", "last_sent", "sock", "statements", "waiting_for")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()
        self.statements: list[str] = []
        self.waiting_for = 0
        self.last_sent = -math.inf  # time.monotonic() of its last program


@contextlib.contextmanager
def _socket_owned(path: str, stop: threading.Event, parent: int | None) -> Iterator[bool]:
    """The writer's socket path held for as long as the block lasts: one writer per
    database, by an exclusive lock on `<path>.lock` that the writer holds while it lives (a
    second writer, of another `pressrun serve` on the same data, waits for it). Yields False
    if told to stop first."""
    descriptor = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        waited = False
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waited:
                    waited = True
                    logger.info("Another SQLite writer serves %s: waiting until it stops.", path)
                if stop.wait(0.5) or _orphaned(parent):
                    yield False
                    return
        yield True
    finally:
        os.close(descriptor)


def _orphaned(parent: int | None) -> bool:
    return parent is not None and os.getppid() != parent


def writer_serve(
    path: str,
    *,
    stop: threading.Event | None = None,
    parent: int | None = None,
    linger: float | None = None,
) -> GroupStats:
    """Listen at `path` and write what arrives until `stop` is set (or SIGTERM/SIGINT in the
    main thread, or the process `parent` is gone): whatever has arrived when a group
    starts, and what more arrives within `linger` seconds (settings.SQLITE_WRITER_WAIT_MS)
    while a client may yet send (`_gather`), at most MAX_GROUP programs. Waits first while
    another writer serves `path`."""
    from django.conf import settings
    from django.db import connection

    if linger is None:
        linger = settings.SQLITE_WRITER_WAIT_MS / 1000

    stop = stop or threading.Event()
    stats = GroupStats()
    if threading.current_thread() is threading.main_thread():
        for number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(number, lambda *_: stop.set())
    with _socket_owned(path, stop, parent) as owned:
        if not owned:
            return stats
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # a writer's that died
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_mask = os.umask(0o177)  # the socket file: this user's alone
        try:
            with _short_address(path) as address:
                listener.bind(address)
        finally:
            os.umask(old_mask)
        bound = os.stat(path).st_ino
        try:
            _serve(
                listener,
                connection=connection,
                stats=stats,
                stop=stop,
                parent=parent,
                path=path,
                linger=linger,
            )
        finally:
            listener.close()
            with contextlib.suppress(FileNotFoundError):
                if os.stat(path).st_ino == bound:
                    os.unlink(path)
            connection.close()
    return stats


def _serve(
    listener: socket.socket,
    *,
    connection: Any,
    stats: GroupStats,
    stop: threading.Event,
    parent: int | None,
    path: str,
    linger: float,
) -> None:
    listener.listen(256)
    listener.setblocking(False)
    # A savepoint's copies of the pages a program changes go to a temporary file past
    # 64 KiB otherwise (docs/performance.md, "fourteenth round"): a group written again
    # with a savepoint per program (`group_write`).
    connection.ensure_connection()
    connection.connection.execute("PRAGMA temp_store=MEMORY")
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, None)
    pending: list[tuple[_Client, WriteProgram]] = []
    logger.info("SQLite writer listening at %s", path)
    try:
        while not stop.is_set():
            if _orphaned(parent):
                # `pressrun serve` died without stopping it (kill -9): its next start has a
                # writer of its own.
                logger.warning("The process that started the SQLite writer is gone: stopping.")
                return
            _take(listener, selector, pending, 0 if pending else 0.5)
            if not pending:
                continue
            if linger > 0:
                _gather(listener, selector, pending, linger)
            group, pending = pending[:MAX_GROUP], pending[MAX_GROUP:]
            answers = group_write([program for _, program in group], stats)
            fault_point("sqlite_writer_committed_before_answer")
            for (client, _), answer in zip(group, answers, strict=True):
                _answer(client, answer, selector)
    finally:
        selector.close()


def _take(
    listener: socket.socket,
    selector: selectors.BaseSelector,
    pending: list[tuple[_Client, WriteProgram]],
    timeout: float,
) -> None:
    """Accept the connections and add the programs that arrive within `timeout` seconds."""
    for key, _ in selector.select(timeout):
        if key.data is None:
            _accept(listener, selector)
        else:
            pending.extend(_receive(key.data, selector))


def _gather(
    listener: socket.socket,
    selector: selectors.BaseSelector,
    pending: list[tuple[_Client, WriteProgram]],
    linger: float,
) -> None:
    """Wait up to `linger` seconds for more programs to join `pending`, for as long as a
    client may send one: it has no program waiting for its answer and sent one within
    ACTIVE_SECONDS (a web process's thread under load). A client waits for each answer
    before it sends again, so once every active one has a program waiting, none can come.

    Why: every order written alone holds SQLite's write lock for its own BEGIN and COMMIT
    and its own pages written to the log; orders that share a transaction share them. With
    the web processes each sending whatever they have at once, the cores that build the
    orders seldom have two ready at the same instant, and groups do not form by themselves
    (docs/performance.md, "sixteenth round"). The wait is not inside the lock: it ends
    before BEGIN."""
    deadline = time.monotonic() + linger
    while len(pending) < MAX_GROUP:
        now = time.monotonic()
        if now >= deadline or not _more_may_come(selector, now):
            return
        _take(listener, selector, pending, deadline - now)


def _more_may_come(selector: selectors.BaseSelector, now: float) -> bool:
    for key in selector.get_map().values():
        client = key.data
        if (
            client is not None
            and not client.waiting_for
            and now - client.last_sent < ACTIVE_SECONDS
        ):
            return True
    return False


def _accept(listener: socket.socket, selector: selectors.BaseSelector) -> None:
    try:
        while True:
            sock, _ = listener.accept()
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ, _Client(sock))
    except BlockingIOError:
        return
    except OSError as exc:
        # Out of descriptors, say: those not accepted wait, or write their own orders. The
        # listener stays ready, so this comes again at every turn: said once a minute.
        now = time.monotonic()
        if now - _accept_warned_at[0] >= 60:
            _accept_warned_at[0] = now
            logger.warning("The SQLite writer could not accept a connection: %s", exc)


_accept_warned_at = [-math.inf]


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
    received: list[tuple[_Client, WriteProgram]] = []
    try:
        for number, message in _frames(client.buffer):
            if client.waiting_for or received or not isinstance(number, int) or number < 1:
                raise ValueError("a program sent before the answer to the one before")
            program = WriteProgram.from_message(message, client.statements)
            _check_program(program)
            client.waiting_for = number
            client.last_sent = time.monotonic()
            received.append((client, program))
    except Exception as exc:
        # What the web processes send is never malformed: a client that does not speak the
        # protocol is disconnected; its program already read is written and answered into
        # the void.
        logger.warning("A malformed message to the SQLite writer (%s): connection closed.", exc)
        _drop(client, selector)
    return received


def _check_program(program: WriteProgram) -> None:
    """Raise ValueError unless `program` is made of what `program_run` expects."""
    statements = [(s.sql, s.params) for s in program.inserts]
    statements += [step for step in (program.check, program.debit) if step is not None]
    for sql, params in statements:
        if not isinstance(sql, str) or not isinstance(params, tuple):
            raise ValueError("a statement is not a text with a tuple of parameters")
    for step in program.inserts:
        for index, as_text in step.pending:
            if not 0 <= index < len(step.params):
                raise ValueError("an id's place is not among the statement's parameters")
            if as_text and not isinstance(step.params[index], str):
                raise ValueError("an id's place in a text is not a text")


def _answer(client: _Client, answer: Answer, selector: selectors.BaseSelector) -> None:
    number, client.waiting_for = client.waiting_for, 0
    if client.sock.fileno() < 0:
        return
    try:
        # One program at a time per connection: the answer is small, and the socket's
        # buffer is empty when it is sent.
        client.sock.sendall(_frame((number, *answer)))
    except OSError:
        _drop(client, selector)


def _drop(client: _Client, selector: selectors.BaseSelector) -> None:
    if client.sock.fileno() >= 0:
        selector.unregister(client.sock)
        client.sock.close()


# --- supervision (`pressrun serve`) ---------------------------------------------------------


class WriterSupervisor:
    """Runs `pressrun sqlitewriter` as a child process for as long as the block lasts, and
    starts it again when it exits: after a second, twice as long each time (up to a minute)
    while it keeps exiting within a minute of its start. The web processes write their own
    orders while it is not listening."""

    FIRST_DELAY = 1.0  # seconds before the first start again
    LONGEST_DELAY = 60.0
    STEADY_SECONDS = 60.0  # a writer that lived this long is started again after FIRST_DELAY
    POLL_SECONDS = 0.5

    def __init__(self, path: str, command: Sequence[str] | None = None) -> None:
        self.path = path
        # The writer's command (its parent's pid is added); another one only in tests.
        self.command = list(command or [sys.executable, "-m", "pressrun.cli", "sqlitewriter"])
        self._stop = threading.Event()
        self._starting = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._started_at = 0.0
        self._thread = threading.Thread(target=self._run, name="sqlite-writer", daemon=True)

    def __enter__(self) -> WriterSupervisor:
        self._start()
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        with self._starting:
            self._stop.set()
            process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        self._thread.join(timeout=5)

    def _start(self) -> None:
        with self._starting:
            if self._stop.is_set():
                return
            self._started_at = time.monotonic()
            self._process = subprocess.Popen(  # noqa: S603  (our own command)
                [*self.command, "--parent", str(os.getpid())],
                # Its own session: a Ctrl-C meant for the server does not stop it while the
                # server drains its requests; the server stops it last.
                start_new_session=True,
            )

    def _run(self) -> None:
        delay = self.FIRST_DELAY
        exited_before = False
        while not self._stop.wait(self.POLL_SECONDS):
            process = self._process
            if process is None or process.poll() is None:
                continue
            lived = time.monotonic() - self._started_at
            if exited_before and lived <= self.STEADY_SECONDS:
                delay = min(delay * 2, self.LONGEST_DELAY)
            else:
                delay = self.FIRST_DELAY
            exited_before = True
            logger.warning(
                "The SQLite writer exited (%s); starting it again in %.1f s.",
                process.returncode,
                delay,
            )
            if self._stop.wait(delay):
                return
            try:
                self._start()
            except OSError as exc:
                # Counted as a writer that exited at once: tried again, later each time.
                logger.error("The SQLite writer could not be started: %s", exc)


def writer_ready(path: str, timeout: float) -> bool:
    """Whether a writer accepts connections at `path` within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            writer_connect(path, timeout=1).close()
            return True
        except OSError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
