"""`pressrun worker`: run background tasks, with heartbeats and recovery of abandoned tasks."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from datetime import datetime
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections, connection
from django.db.utils import OperationalError
from django.utils import timezone
from django.utils.crypto import get_random_string
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.utils import is_locked_database_exception

from pressrun.core.models import WorkerHeartbeat
from pressrun.core.task_backend import task_claim_next, task_claim_supported
from pressrun.core.tasks import (
    relays_run,
    requeue_abandoned_tasks,
    schedule_periodic_tasks,
    worker_identify,
)

logger = logging.getLogger(__name__)

# Seconds between two calls of the relays while every claim finds a task and the relays find
# nothing (`StoppingWorker.run`): how much later a placed order's follow-ups may be queued
# when the worker is busy.
RELAY_EVERY_WHILE_BUSY = 0.1
# A batch worker (`--batch`) whose relays fail tries them this many times, `interval` apart,
# before it stops with their rows left for the next run.
BATCH_RELAY_ATTEMPTS = 3


class StoppingWorker(Worker):
    """django-tasks' database worker, stopping only between polls.

    On SIGTERM/SIGINT the library's worker exits at once (`sys.exit`) unless a task is
    running, and that can land inside its polling transaction's COMMIT: the worker then dies
    with a traceback instead of stopping. Here the first signal only ends the loop, which
    finishes its poll (or current task) and returns within one interval; a second signal
    still stops at once."""

    # The relays' consecutive failures (`_relay`).
    _relays_failed = 0

    def shutdown(self, signum: int, frame: FrameType | None) -> None:
        if not self.running:
            super().shutdown(signum, frame)
            return
        logger.warning(
            "Received %s - stopping after the current poll or task (again to force)",
            signal.strsignal(signum),
        )
        self.running = False

    def run(self) -> None:
        """The library's loop (`Worker.run`), each task claimed by `task_claim_next`: one
        statement instead of a queryset built, read and saved back on every poll, which on
        SQLite held the write lock about a millisecond a task. What the loop does besides is
        the library's: run the task (`run_task`), stop in batch mode once nothing is ready,
        sleep `interval` when idle, check the connection after waking and after each task.
        Before a claim it runs the apps' relays (`core.tasks.register_relay`), and it is
        not idle while they hand something."""
        if self.excluded_queue_names or self.startup_delay:
            # Not offered by `pressrun worker`; the library's loop, which has them, runs no
            # relays, and a placed order would never get its follow-ups.
            raise ValueError("pressrun's worker loop takes no excluded queues or startup delay")
        logger.info("Starting worker worker_id=%s queues=%s", self.worker_id, self.queue_names)
        queue_names = None if self.process_all_queues else self.queue_names
        relayed, task_result, relayed_at = 0, None, -RELAY_EVERY_WHILE_BUSY
        while self.running:
            close_old_connections()
            # The relays before each claim while they hand something or the queue is empty;
            # while the worker is busy with tasks alone, a few times a second (their check
            # for rows is a query, and a task costs a few milliseconds).
            relay_ran = bool(
                relayed
                or task_result is None
                or time.monotonic() - relayed_at >= RELAY_EVERY_WHILE_BUSY
            )
            if relay_ran:
                relayed, relayed_at = self._relay(), time.monotonic()
            try:
                task_result = task_claim_next(
                    worker_id=self.worker_id,
                    backend_name=self.backend_name,
                    queue_names=queue_names,
                )
                retrieved = True
            except OperationalError as exc:
                # As the library: a locked database is tried again at the next poll.
                if not is_locked_database_exception(exc):
                    raise
                task_result, retrieved = None, False
            if task_result is not None:
                self.run_task(task_result)
            elif relayed or not relay_ran:
                # Not idle, nor done in batch mode: more may wait to be relayed, and what was
                # relayed queued tasks (perhaps taken by another worker meanwhile); or the
                # relays were not asked before this claim.
                continue
            if (
                self.batch
                and task_result is None
                and 0 < self._relays_failed < BATCH_RELAY_ATTEMPTS
            ):
                time.sleep(self.interval)  # not done while the relays could not be asked
                continue
            if self.batch and retrieved and task_result is None:
                logger.info("No more tasks to run for worker_id=%s - exiting.", self.worker_id)
                return
            if self.max_tasks is not None and self._run_tasks >= self.max_tasks:
                logger.info(
                    "Ran %d tasks on worker_id=%s - exiting.", self.max_tasks, self.worker_id
                )
                return
            close_old_connections()
            if self.running and task_result is None:
                time.sleep(self.interval)

    def _relay(self) -> int:
        """The relays first (intake's placed orders): what they hand queues tasks. One that
        fails rolled back whole and is tried again at the next poll; meanwhile the tasks
        already queued still run (`/readyz` names the orders left waiting). In batch mode
        the run does not end on a pass whose relays failed, unless they failed
        `BATCH_RELAY_ATTEMPTS` times in a row."""
        try:
            handed = relays_run()
        except Exception as exc:
            # A locked database is routine on SQLite: tried again without a traceback.
            if not (isinstance(exc, OperationalError) and is_locked_database_exception(exc)):
                logger.exception("A relay failed; it is tried again at the next poll")
            self._relays_failed += 1
            return 0
        self._relays_failed = 0
        return handed


class Command(BaseCommand):
    help = "Run the background task worker (Ctrl+C stops it after the current task)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--queue", default="*", help="Queues to run, comma separated.")
        parser.add_argument(
            "--interval", type=float, default=0.5, help="Seconds between polls when idle."
        )
        parser.add_argument(
            "--batch", action="store_true", help="Run what is ready now, then exit."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not task_claim_supported():
            raise CommandError(
                f"pressrun worker runs on SQLite or PostgreSQL, not {connection.vendor}."
            )
        worker_id = f"{socket.gethostname()[:30]}-{os.getpid()}-{get_random_string(8)}"
        worker_identify(worker_id)
        started_at = timezone.now()
        self._beat(worker_id, started_at=started_at)
        requeued = requeue_abandoned_tasks()
        schedule_periodic_tasks()
        self.stdout.write(
            f"pressrun worker {worker_id} started; requeued {requeued} abandoned task(s)."
        )
        stop = threading.Event()
        beat = threading.Thread(
            target=self._heartbeat, args=(worker_id, started_at, stop), daemon=True
        )
        beat.start()
        worker = StoppingWorker(
            queue_names=options["queue"].split(","),
            interval=options["interval"],
            batch=options["batch"],
            backend_name="default",
            startup_delay=False,
            max_tasks=None,
            worker_id=worker_id,
            excluded_queue_names=[],
        )
        worker.configure_signals()
        try:
            worker.run()
        finally:
            stop.set()
            WorkerHeartbeat.objects.filter(worker_id=worker_id).delete()

    @staticmethod
    def _beat(worker_id: str, *, started_at: datetime) -> None:
        """Say this worker is alive now. The row is written again should it be gone (another
        worker deletes heartbeats silent for a day): a worker without one is dead to the
        others, which would take over its claims."""
        now = timezone.now()
        if not WorkerHeartbeat.objects.filter(worker_id=worker_id).update(last_seen=now):
            WorkerHeartbeat.objects.update_or_create(
                worker_id=worker_id,
                defaults={
                    "hostname": socket.gethostname()[:255],
                    "pid": os.getpid(),
                    "started_at": started_at,
                    "last_seen": now,
                },
            )

    def _heartbeat(self, worker_id: str, started_at: datetime, stop: threading.Event) -> None:
        """Every few seconds: say this worker is alive, and recover other workers' tasks."""
        try:
            while not stop.wait(settings.WORKER_HEARTBEAT_SECONDS):
                try:
                    self._beat(worker_id, started_at=started_at)
                    requeue_abandoned_tasks()
                except Exception:
                    self.stderr.write("heartbeat failed; retrying")
                    close_old_connections()
        finally:
            connection.close()
