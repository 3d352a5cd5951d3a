"""The directory in which the processes of one `pressrun serve` keep their request metrics.

prometheus-client's multiprocess mode (monitoring/requests.py) has each server process write
its counts to memory-mapped files in the directory named by PROMETHEUS_MULTIPROC_DIR, and
adds up every file there when /metrics is asked. So the directory must hold the files of
this server's processes and of nothing else: each `serve` makes its own,
`<data dir>/metrics/serve-<its pid>`, sets the variable before it starts its processes (they
inherit it), and removes the directory when it stops. One left by a server that was killed
is removed by the next `serve` on the same data dir; two servers on one data dir (another
port) each count their own requests.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
PREFIX = "serve-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process has that pid now
        return True
    return True


def metrics_dir_prepare(data_dir: Path) -> Path:
    """Remove the directories of servers no longer running, make this server's own (empty)
    and name it in PROMETHEUS_MULTIPROC_DIR for the processes about to start."""
    parent = data_dir / "metrics"
    parent.mkdir(exist_ok=True)
    for stale in parent.glob(f"{PREFIX}*"):
        pid = stale.name.removeprefix(PREFIX)
        if not pid.isdigit() or not _alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    own = parent / f"{PREFIX}{os.getpid()}"
    shutil.rmtree(own, ignore_errors=True)  # a dead server's, whose pid this one got
    own.mkdir()
    os.environ[MULTIPROCESS_DIR_VARIABLE] = str(own)
    values: Any = sys.modules.get("prometheus_client.values")
    if values is not None:
        # Imported already (pressrun imports it only on first use, a library might not): it
        # chose in-memory counts then; choose again, for the metrics the processes will make.
        values.ValueClass = values.get_value_class()
    return own


def metrics_dir_remove(path: Path) -> None:
    """After the server's processes have stopped: their counts go with them."""
    shutil.rmtree(path, ignore_errors=True)
    if os.environ.get(MULTIPROCESS_DIR_VARIABLE) == str(path):
        del os.environ[MULTIPROCESS_DIR_VARIABLE]
