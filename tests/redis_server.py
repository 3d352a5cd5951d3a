"""A throwaway `redis-server` for the tests that need a real Redis (the shared cache of a
several-machine installation): the Debian package's binary, started on a free port, memory
only, loopback only. `.ci/run` installs it; elsewhere the tests skip loudly without it."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live import _free_port, _read, _stop

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
STARTUP_TIMEOUT_SECONDS = 30.0


def available() -> bool:
    return os.access(REDIS_SERVER, os.X_OK)


@contextlib.contextmanager
def redis_server(directory: Path, port: int = 0) -> Iterator[int]:
    """A redis-server on `port` (a free one when 0) with no RDB or AOF persistence, its
    working dir and log in `directory`. Yields its port; stopped on leaving."""
    port = port or _free_port()
    log = directory / f"redis-{port}.log"
    command = [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1"]
    command += ["--save", "", "--appendonly", "no", "--dir", str(directory)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"redis-server exited with {process.returncode}:\n{_read(log)}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if time.monotonic() > deadline:
                pytest.fail(f"redis-server did not start:\n{_read(log)}")
            time.sleep(0.05)
        yield port
    finally:
        _stop(process)


def redis_keys(port: int) -> list[str]:
    """The keys in the Redis at `port`, read with the client library Django's cache uses."""
    import redis

    client = redis.Redis(host="127.0.0.1", port=port)
    try:
        return sorted(key.decode() for key in client.scan_iter(count=1000))
    finally:
        client.close()
