"""The SQLite writer's groups (`core.sqlite.writer.group_write`) on the test database: a group
whose programs all commit is written at once, with no savepoint; one that holds a program
that does not commit is written again with each program in a savepoint, so that only that
program's writes are undone; a lone program that does not commit leaves nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connection

from pressrun.core.sqlite import writer
from pressrun.core.sqlite.writer import Answer, GroupStats
from tests.core.test_sqlite_writer import order_program

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "sqlite",
        reason="SQLite's writer process: the suite's SQLite half runs these tests",
    ),
]

TABLES = ('"order"', "line", "task", "account")


@pytest.fixture
def tables() -> Iterator[None]:
    """order_program's tables, in the test database."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE account (id INTEGER PRIMARY KEY, balance INTEGER, name TEXT)")
        cursor.execute(
            'CREATE TABLE "order" (id INTEGER PRIMARY KEY, invoice TEXT UNIQUE, paid INTEGER)'
        )
        cursor.execute("CREATE TABLE line (id INTEGER PRIMARY KEY, order_id INTEGER, note TEXT)")
        cursor.execute("CREATE TABLE task (id TEXT PRIMARY KEY, args TEXT)")
        cursor.execute("INSERT INTO account VALUES (1, 100, 'a')")
    yield
    with connection.cursor() as cursor:
        for table in TABLES:
            cursor.execute(f"DROP TABLE {table}")


def stored() -> tuple[list[tuple[object, ...]], ...]:
    with connection.cursor() as cursor:
        return tuple(
            cursor.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall() for table in TABLES
        )


@pytest.fixture
def statements() -> Iterator[list[str]]:
    """The statements the writer's connection runs."""
    seen: list[str] = []
    connection.ensure_connection()
    raw = connection.connection
    raw.set_trace_callback(seen.append)
    yield seen
    raw.set_trace_callback(None)


def test_a_group_that_all_commits_is_one_transaction_without_savepoints(
    tables: None, statements: list[str]
) -> None:
    stats = GroupStats()
    answers = writer.group_write(
        [order_program("A", paid=True), order_program("B", paid=True)], stats
    )
    assert answers == [
        Answer(writer.COMMITTED, (1, 1, None)),
        Answer(writer.COMMITTED, (2, 2, None)),
    ]
    assert (stats.groups, stats.programs) == (1, 2)
    assert [sql for sql in statements if "SAVEPOINT" in sql or sql.startswith("BEGIN")] == [
        "BEGIN IMMEDIATE"
    ]
    assert stored() == (
        [(1, "A", 1), (2, "B", 1)],
        [(1, 1, "line of 1"), (2, 2, "line of 2")],
        [("task-A", '{"order_id": 1}'), ("task-B", '{"order_id": 2}')],
        [(1, 88, "a")],
    )


def test_a_program_that_does_not_commit_undoes_only_itself_in_its_group(
    tables: None, statements: list[str]
) -> None:
    """A duplicate, rows changed since the program was made, a debit deciding against the
    guess (after it took the money): each answered for itself, its writes undone, the
    group's others committed."""
    stats = GroupStats()
    answers = writer.group_write(
        [
            order_program("A", paid=True),
            order_program("A", paid=True),  # a duplicate of the first
            order_program("B", paid=True, name="renamed"),
            order_program("C", paid=False),  # the balance covers it: the debit takes it
            order_program("D", paid=True),
        ],
        stats,
    )
    assert [answer.kind for answer in answers] == [
        writer.COMMITTED,
        writer.DUPLICATE,
        writer.ROWS_CHANGED,
        writer.OTHER_OUTCOME,
        writer.COMMITTED,
    ]
    assert "UNIQUE" in answers[1].detail
    assert (stats.groups, stats.programs) == (2, 5)  # rolled back once, written again
    assert statements.count("BEGIN IMMEDIATE") == 2
    orders, lines, tasks, accounts = stored()
    assert [invoice for _, invoice, _ in orders] == ["A", "D"]
    assert [task for task, _ in tasks] == ["task-A", "task-D"]
    assert len(lines) == 2
    assert accounts == [(1, 88, "a")]  # two debits of 6: the others' undone


@pytest.mark.parametrize(
    ("program", "kind"),
    [
        (order_program("A", paid=True, name="renamed"), writer.ROWS_CHANGED),
        (order_program("A", paid=False), writer.OTHER_OUTCOME),
        (order_program("A", paid=True, amount=101), writer.OTHER_OUTCOME),
    ],
    ids=["rows changed", "debit took the money", "debit took none"],
)
def test_a_lone_program_that_does_not_commit_leaves_nothing(
    tables: None, statements: list[str], program: writer.WriteProgram, kind: str
) -> None:
    before = stored()
    stats = GroupStats()
    [answer] = writer.group_write([program], stats)
    assert answer.kind == kind
    assert stored() == before
    assert stats.groups == 1  # its answer is its own: not written again
    assert not [sql for sql in statements if "SAVEPOINT" in sql]


def test_a_lone_program_that_fails_leaves_nothing(tables: None) -> None:
    """A program that does not hold together (a statement SQLite refuses after its debit
    took the money): FAILED, and nothing of it stays."""
    program = order_program("A", paid=True)
    broken = writer.WriteProgram(
        inserts=(*program.inserts, writer.InsertStep("INSERT INTO missing VALUES (%s)", (1,))),
        check=program.check,
        debit=program.debit,
        expect_paid=True,
    )
    before = stored()
    [answer] = writer.group_write([broken])
    assert answer.kind == writer.FAILED
    assert "missing" in answer.detail
    assert stored() == before


def test_a_group_whose_transaction_fails_is_answered_unknown_and_leaves_nothing(
    tables: None, statements: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its COMMIT fails (here: the process is stopped just before it): no program knows
    whether it was written, and each caller finds out; the group is not written again."""

    def stop(name: str) -> None:
        if name == "sqlite_writer_before_commit":
            raise OSError("stopped before the COMMIT")

    monkeypatch.setattr(writer, "fault_point", stop)
    before = stored()
    stats = GroupStats()
    answers = writer.group_write(
        [order_program("A", paid=True), order_program("B", paid=True)], stats
    )
    assert [answer.kind for answer in answers] == [writer.UNKNOWN, writer.UNKNOWN]
    assert "stopped before the COMMIT" in answers[0].detail
    assert stored() == before
    assert statements.count("BEGIN IMMEDIATE") == 1
    assert (stats.groups, stats.programs) == (1, 2)


def test_a_lone_duplicate_leaves_nothing_of_itself(tables: None) -> None:
    [first] = writer.group_write([order_program("A", paid=True)])
    before = stored()
    [again] = writer.group_write([order_program("A", paid=True)])
    assert first.kind == writer.COMMITTED
    assert again.kind == writer.DUPLICATE
    assert stored() == before  # its debit, taken before its INSERT failed, undone
