"""`pressrun worker` stops between polls: a stop signal never exits in the middle of the
poll's transaction (where the library's worker would exit at once)."""

from __future__ import annotations

import signal

import pytest

from pressrun.core.management.commands.worker import StoppingWorker


def make_worker(*, interval: float = 0.5, batch: bool = False) -> StoppingWorker:
    """`pressrun worker`'s loop as its command builds it, in this process."""
    return StoppingWorker(
        queue_names=["*"],
        interval=interval,
        batch=batch,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="test-worker",
        excluded_queue_names=[],
    )


def test_the_first_stop_signal_ends_the_loop_without_exiting() -> None:
    worker = make_worker()
    worker.running_task = False
    worker.shutdown(signal.SIGTERM, None)  # no SystemExit: the loop ends after its poll
    assert worker.running is False


def test_a_second_stop_signal_exits_at_once() -> None:
    worker = make_worker()
    worker.shutdown(signal.SIGTERM, None)
    try:
        with pytest.raises(SystemExit) as exited:
            worker.shutdown(signal.SIGTERM, None)
        assert exited.value.code == 1
    finally:
        worker.reset_signals()
