"""One long-lived Python that runs `pressrun` management commands for a test installation.

Started by tests/live.py (`LiveService.setup`, `LiveService.shell`, `create_publisher`) in the
installation's environment. Each `pressrun` process spends about 0.6 s of CPU starting
Django; the end-to-end tests prepare their data with hundreds of such commands, so the ones
that only set data up run here, one after another, in a process that started Django once.
Tests that prove what a command does still run the real `pressrun` (`LiveService.pressrun`).

Protocol: one JSON list of arguments per line on stdin; one JSON object per line back,
{"returncode", "stdout", "stderr"}, on the file descriptor that was stdout when the host
started (file descriptor 1 is pointed at stderr, so nothing else can write into the answers).
The host ends when stdin closes, when it has been idle for PRESSRUN_CLI_HOST_IDLE_SECONDS
(the caller starts a new one when needed), or when its data dir is gone.
"""

from __future__ import annotations

import io
import json
import logging
import os
import select
import sys
import traceback
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import TextIO


class _CurrentStderr(io.TextIOBase):
    """Log handlers write to whatever sys.stderr is at the time, so a command's log lines are
    in its captured stderr, as they are in a `pressrun` process's."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def _run(args: list[str]) -> dict[str, object]:
    from django.core.management import ManagementUtility
    from django.db import connections

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with redirect_stdout(out), redirect_stderr(err):
        try:
            ManagementUtility(["pressrun", *args]).execute()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:
            traceback.print_exc()
            code = 1
        finally:
            # Between commands the host holds no connection, as between two processes: the
            # server and the worker see every write, and no lock or transaction lingers.
            connections.close_all()
    return {"returncode": code, "stdout": out.getvalue(), "stderr": err.getvalue()}


def main() -> None:
    answers: TextIO = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    idle_seconds = float(os.environ.get("PRESSRUN_CLI_HOST_IDLE_SECONDS") or "60")
    data_dir = Path(os.environ["PRESSRUN_DATA_DIR"])

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pressrun.settings")
    import django

    django.setup()
    for handler in logging.root.handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream is sys.__stderr__:
            handler.setStream(_CurrentStderr())  # type: ignore[arg-type]
    answers.write(json.dumps({"ready": True}) + "\n")
    answers.flush()

    while True:
        readable, _, _ = select.select([sys.stdin], [], [], idle_seconds)
        if not readable or not data_dir.is_dir():
            return
        line = sys.stdin.readline()
        if not line:
            return
        answers.write(json.dumps(_run(json.loads(line))) + "\n")
        answers.flush()


if __name__ == "__main__":
    main()
