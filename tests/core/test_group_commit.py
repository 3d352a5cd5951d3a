"""Group commit (core/group_commit.py): works of several threads in one transaction, each
caller answered with its own outcome, and only once it is committed.

The groups are made deterministic: the first work (the leader's) waits inside its
transaction until the other threads have queued theirs, so they form the next group.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction

from pressrun.core.group_commit import GroupCommit
from pressrun.core.models import WorkerHeartbeat
from pressrun.orders.models import OrderEvent

pytestmark = pytest.mark.django_db(transaction=True)

AT = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
# How long a test waits for threads it started to reach a point before it fails (never
# reached when the code is right: the waits end as soon as the point is reached).
STUCK_SECONDS = 30


def beat(worker_id: str) -> str:
    WorkerHeartbeat.objects.create(
        worker_id=worker_id, hostname="h", pid=1, started_at=AT, last_seen=AT
    )
    return worker_id


def written() -> list[str]:
    return sorted(WorkerHeartbeat.objects.values_list("worker_id", flat=True))


class Outcomes:
    """Each thread's result or exception, by name."""

    def __init__(self) -> None:
        self.results: dict[str, Any] = {}
        self.errors: dict[str, BaseException] = {}
        self.threads: list[threading.Thread] = []

    def start(
        self,
        group: GroupCommit,
        name: str,
        work: Callable[[], Any],
        then: Callable[[Any], Any] = lambda result: result,
    ) -> None:
        """Run `work` through `group` in a new thread; what `then` makes of its result the
        moment `run` returned is the thread's result."""

        def run() -> None:
            try:
                self.results[name] = then(group.run(work))
            except BaseException as exc:
                self.errors[name] = exc
            finally:
                connection.close()

        thread = threading.Thread(target=run, name=name)
        self.threads.append(thread)
        thread.start()

    def join(self) -> None:
        for thread in self.threads:
            thread.join(STUCK_SECONDS)
            assert not thread.is_alive(), f"{thread.name} is stuck"


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + STUCK_SECONDS
    while not condition():
        assert time.monotonic() < deadline, "the threads never got there"
        time.sleep(0.001)


def hold(group: GroupCommit) -> tuple[Outcomes, threading.Event]:
    """Start a first work ('leader') that holds its transaction open until the returned
    event is set; works started meanwhile queue for the next group."""
    outcomes = Outcomes()
    release = threading.Event()

    def leader() -> str:
        beat("leader")
        assert release.wait(STUCK_SECONDS)
        return "leader"

    outcomes.start(group, "leader", leader)
    wait_until(lambda: group.groups == 1)
    return outcomes, release


@pytest.fixture
def held_group() -> Iterator[tuple[GroupCommit, Outcomes, threading.Event]]:
    """A group commit held by its first work (`hold`), released at the end in any case."""
    group = GroupCommit()
    outcomes, release = hold(group)
    yield group, outcomes, release
    release.set()
    outcomes.join()


def queue(group: GroupCommit, outcomes: Outcomes, works: dict[str, Callable[[], Any]]) -> None:
    for name, work in works.items():
        outcomes.start(group, name, work)
    wait_until(lambda: len(group._queued) == len(works))


def test_a_work_alone_is_written_in_a_transaction_of_its_own() -> None:
    group = GroupCommit()
    assert group.run(lambda: beat("w1")) == "w1"
    assert written() == ["w1"]
    assert (group.groups, group.grouped_works) == (1, 1)


def test_a_work_alone_that_fails_writes_nothing_and_raises_to_its_caller() -> None:
    group = GroupCommit()

    def fails() -> None:
        beat("w1")
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        group.run(fails)
    assert written() == []


def test_inside_a_callers_transaction_the_work_stays_in_it() -> None:
    group = GroupCommit()
    results = []

    def caller_that_rolls_back() -> None:
        with transaction.atomic():
            results.append(group.run(lambda: beat("w1")))
            raise RuntimeError("the caller rolls back")

    with pytest.raises(RuntimeError):
        caller_that_rolls_back()
    assert results == ["w1"]
    assert written() == []
    with transaction.atomic():
        group.run(lambda: beat("w2"))
    assert written() == ["w2"]
    assert (group.groups, group.grouped_works) == (0, 0)


def test_works_that_arrive_while_a_group_is_written_share_the_next_transaction(
    held_group: tuple[GroupCommit, Outcomes, threading.Event],
) -> None:
    group, outcomes, release = held_group
    queue(group, outcomes, {name: (lambda name=name: beat(name)) for name in ("a", "b", "c")})
    release.set()
    outcomes.join()
    assert outcomes.errors == {}
    assert outcomes.results == {"leader": "leader", "a": "a", "b": "b", "c": "c"}
    assert written() == ["a", "b", "c", "leader"]
    assert (group.groups, group.grouped_works) == (2, 4)


def test_a_caller_learns_its_outcome_only_after_the_commit(
    held_group: tuple[GroupCommit, Outcomes, threading.Event],
) -> None:
    group, outcomes, release = held_group
    committed: list[str] = []
    inside: dict[str, list[str]] = {}

    def work(name: str) -> Callable[[], list[str]]:
        def run() -> list[str]:
            beat(name)
            transaction.on_commit(lambda: committed.append(name))
            inside[name] = list(committed)
            return committed

        return run

    for name in ("a", "b"):
        # What the caller holds the moment run() returns to it.
        outcomes.start(group, name, work(name), then=sorted)
    wait_until(lambda: len(group._queued) == 2)
    release.set()
    outcomes.join()
    # Nothing was committed while the works ran (one transaction for both)…
    assert inside == {"a": [], "b": []}
    # …and both were, by the time either caller had its answer.
    assert outcomes.results == {"leader": "leader", "a": ["a", "b"], "b": ["a", "b"]}


def test_a_failing_work_in_a_group_rolls_back_only_its_own_rows(
    held_group: tuple[GroupCommit, Outcomes, threading.Event],
) -> None:
    group, outcomes, release = held_group

    def fails() -> None:
        beat("b")
        raise ValueError("b refused")

    queue(group, outcomes, {"a": lambda: beat("a"), "b": fails, "c": lambda: beat("c")})
    release.set()
    outcomes.join()
    assert outcomes.results == {"leader": "leader", "a": "a", "c": "c"}
    assert list(outcomes.errors) == ["b"]
    assert str(outcomes.errors["b"]) == "b refused"
    assert written() == ["a", "c", "leader"]
    assert (group.groups, group.grouped_works) == (2, 4)


def test_a_later_work_of_a_group_sees_what_an_earlier_one_wrote(
    held_group: tuple[GroupCommit, Outcomes, threading.Event],
) -> None:
    group, outcomes, release = held_group
    # Two works writing the same primary key in one group: the later fails on it, as it
    # would in the next transaction, and the earlier's row stays.
    queue(group, outcomes, {"first": lambda: beat("same")})
    outcomes.start(group, "second", lambda: beat("same"))
    wait_until(lambda: len(group._queued) == 2)
    release.set()
    outcomes.join()
    # Whichever of the two the group ran first (its leader's) wrote the row.
    winners = [name for name in outcomes.results if name != "leader"]
    assert len(winners) == 1
    assert outcomes.results == {"leader": "leader", winners[0]: "same"}
    assert sorted([*outcomes.results, *outcomes.errors]) == ["first", "leader", "second"]
    assert [type(error) for error in outcomes.errors.values()] == [IntegrityError]
    assert written() == ["leader", "same"]


def test_when_the_groups_commit_fails_each_work_runs_again_on_its_own(
    held_group: tuple[GroupCommit, Outcomes, threading.Event],
) -> None:
    group, outcomes, release = held_group
    runs: list[str] = []

    def counted(name: str, work: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            runs.append(name)
            return work()

        return run

    def dangling() -> None:
        # A foreign key is checked at COMMIT (deferred): the savepoint takes it, the
        # group's COMMIT does not.
        OrderEvent.objects.create(order_id=987_654_321, at=AT, kind="note")

    queue(
        group,
        outcomes,
        {
            "a": counted("a", lambda: beat("a")),
            "bad": counted("bad", dangling),
            "c": counted("c", lambda: beat("c")),
        },
    )
    release.set()
    outcomes.join()
    assert outcomes.results == {"leader": "leader", "a": "a", "c": "c"}
    assert list(outcomes.errors) == ["bad"]
    assert isinstance(outcomes.errors["bad"], IntegrityError)
    assert written() == ["a", "c", "leader"]
    assert OrderEvent.objects.count() == 0
    assert sorted(runs) == ["a", "a", "bad", "bad", "c", "c"]


def test_a_group_holds_at_most_max_group_works() -> None:
    group = GroupCommit(max_group=2)
    outcomes, release = hold(group)
    queue(group, outcomes, {name: (lambda name=name: beat(name)) for name in "abc"})
    release.set()
    outcomes.join()
    assert outcomes.errors == {}
    assert written() == ["a", "b", "c", "leader"]
    # The leader alone, then the three queued works in groups of at most two.
    assert (group.groups, group.grouped_works) == (3, 4)


def test_max_group_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        GroupCommit(max_group=0)


def test_should_writing_a_group_fail_itself_every_caller_gets_the_error(
    held_group: tuple[GroupCommit, Outcomes, threading.Event],
) -> None:
    group, outcomes, release = held_group

    def broken(works: list[Any]) -> None:
        raise RuntimeError("the group's writer broke")

    group._write = broken  # type: ignore[method-assign]  # the next group's
    queue(group, outcomes, {"a": lambda: beat("a"), "b": lambda: beat("b")})
    release.set()
    outcomes.join()
    assert outcomes.results == {"leader": "leader"}
    assert {name: str(error) for name, error in outcomes.errors.items()} == {
        "a": "the group's writer broke",
        "b": "the group's writer broke",
    }
