"""Running jobs on threads of their own at once, as concurrent requests or workers would."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connection


def skip_unless_threads_share_the_database() -> None:
    """Skip the calling test where its threads cannot share the test database: the suite's
    SQLite half runs on in-memory SQLite, whose database each thread would open afresh."""
    if connection.vendor == "sqlite" and connection.settings_dict["NAME"].startswith(
        "file:memorydb"
    ):
        pytest.skip("in-memory SQLite cannot be shared by threads; PostgreSQL runs this test")


def run_together(*jobs: Callable[[], object], timeout: float = 120) -> list[BaseException]:
    """Run each job on a thread of its own, released together by a barrier; wait for all of
    them and return what they raised, in the order raised (a job still running after
    `timeout` seconds as a `TimeoutError`). Each thread closes its own database connection
    when done (the test's database is dropped at its end, and an open connection would hold
    it)."""
    raised: list[BaseException] = []
    start_line = threading.Barrier(len(jobs))

    def run(job: Callable[[], object]) -> None:
        try:
            start_line.wait(timeout=30)
            job()
        except BaseException as exc:  # reported to the caller
            raised.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
        if thread.is_alive():
            raised.append(TimeoutError(f"a job still ran after {timeout} s"))
    return raised
