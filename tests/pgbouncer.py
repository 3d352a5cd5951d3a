"""A throwaway PgBouncer in transaction mode in front of one PostgreSQL database, for the
test of several machines (docs/deploy.md, "PostgreSQL behind PgBouncer"): Debian's
`pgbouncer`, started on a free port with a configuration of its own, no Unix socket, no
log or pid file. `.ci/run` installs it; elsewhere the test skips loudly without it."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import pytest

from tests.live import _free_port, _read, _stop

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
STARTUP_TIMEOUT_SECONDS = 30.0


def available() -> bool:
    return os.access(PGBOUNCER, os.X_OK)


@contextlib.contextmanager
def pgbouncer(directory: Path, database_url: str, *, pool_size: int) -> Iterator[str]:
    """PgBouncer with `pool_mode = transaction` for the database at `database_url`, at most
    `pool_size` server connections to it. Yields the database's URL through PgBouncer;
    stopped on leaving."""
    import psycopg

    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    target = [
        f"host={parts.hostname or '127.0.0.1'}",
        f"port={parts.port or 5432}",
        f"dbname={name}",
        f"user={unquote(parts.username or 'postgres')}",
    ]
    if parts.password:
        target.append(f"password={unquote(parts.password)}")
    port = _free_port()
    config = directory / "pgbouncer.ini"
    config.write_text(
        f"[databases]\n{name} = {' '.join(target)}\n\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        # Clients are this test's own processes; the server side uses the URL's login.
        "auth_type = any\n"
        f"pool_mode = transaction\ndefault_pool_size = {pool_size}\n"
        "max_client_conn = 500\nlogfile =\npidfile =\n"
    )
    command = [PGBOUNCER]
    if os.geteuid() == 0:
        # PgBouncer refuses to run as root (CI runs as root): it drops to this user.
        command += ["-u", "nobody"]
    log = directory / "pgbouncer.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, str(config)], stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = urlunsplit(parts._replace(netloc=f"{parts.username or 'postgres'}@127.0.0.1:{port}"))
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"pgbouncer exited with {process.returncode}:\n{_read(log)}")
            try:
                with psycopg.connect(
                    urlunsplit(urlsplit(url)._replace(scheme="postgresql")), connect_timeout=2
                ) as connection:
                    connection.execute("SELECT 1")
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    pytest.fail(f"pgbouncer did not start:\n{_read(log)}")
                time.sleep(0.1)
        yield url
    finally:
        _stop(process)
