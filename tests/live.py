"""The real service for end-to-end and browser tests: `pressrun serve` and `pressrun worker`
as processes, started once per test session (the fixtures are registered in tests/conftest.py,
so tests/e2e and tests/ui share one service).

The `live_service` fixture builds a fresh installation the way an operator does (a migrated
database, then createpublisher, createproject, addcredit), starts the web server and the
worker, and hands the tests an object to talk HTTP to it and to run more `pressrun` commands
against the same data dir and database. It runs on SQLite in a fresh data dir, or, when
PRESSRUN_DATABASE_URL is set, in a fresh PostgreSQL database created for the session on that
server and dropped afterwards.

What the suite's CPU goes to, and how this module keeps it down (the suite is CPU-bound on
a small machine; each `pressrun` process spends about 0.6 s of CPU starting Django):

- A fresh installation's database is a copy of a migrated template (`migrated_database`):
  each test process runs the real `pressrun migrate` once, on an empty database, and copies
  the result for every installation it builds (SQLite: the database file; PostgreSQL:
  CREATE DATABASE ... TEMPLATE). `pressrun migrate` costs about 3 s of CPU; a copy almost
  nothing. What migrate does on an empty database is still proven: the template is made by
  it, and tests/e2e/test_served_address_http.py runs `make run`'s own sequence (the real
  `pressrun migrate` on an empty database, then serve and demo) on both databases.
- Commands that only set data up (`LiveService.setup`, `shell`, `create_publisher`) run in
  one long-lived Python per installation (tests/cli_host.py), which started Django once.
  Tests that prove what a command does run the real `pressrun` (`LiveService.pressrun` and
  `run`), as an operator would.
- Installations hash passwords with a fast hasher (PRESSRUN_FAST_PASSWORD_HASHER), as the
  in-process tests do: PBKDF2 at Django's default cost is about 0.5 s of CPU per login or
  account created. Hashing itself is tested in tests/accounts; the production hashers run
  end to end in test_served_address_http.py (make run's path).

A test that needs an installation of its own uses `running_service`, or, for more control,
does what it does: `env = _base_environment(data_dir)` plus its settings, `database =
migrated_database(env, data_dir)`, a `LiveService`, the processes it needs; and, whatever
happens, `service.close()`, `_stop` for each process and `database.drop()` when it is not None.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import select
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.carts import oneshoppingcart_emulator
from tests.carts.oneshoppingcart_emulator import Emulator
from tests.payments import stripe_emulator
from tests.payments.stripe_emulator import EmulatorProcess

if TYPE_CHECKING:
    import psycopg

PRESSRUN = Path(sys.executable).parent / "pressrun"
CLI_HOST = Path(__file__).resolve().parent / "cli_host.py"
# The SQLite database in a data dir (pressrun/settings.py).
SQLITE_FILE = "pressrun.sqlite3"
SECRET_KEY = "e2e-fixed-secret-key-not-for-production-0123456789"
STARTUP_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0

# (title, media, packaging, unit price, explicit project ID or None)
MAIN_PROJECTS: tuple[tuple[str, str, str, str, int | None], ...] = (
    ("Greatest Hits (CD)", "cd", "sleeve", "4.50", 66750),
    ("Live in Concert (DVD)", "dvd", "dvd-case", "6.25", 66760),
    ("Complete Works (USB)", "usb", "usb-ecomailer", "9.00", 66770),
)
CD_SLEEVE: tuple[tuple[str, str, str, str, int | None], ...] = (
    ("Single (CD)", "cd", "sleeve", "4.50", None),
)


@dataclass(frozen=True)
class Account:
    """A publisher created through the CLI, with its login and its projects."""

    id: int
    email: str
    password: str
    project_ids: tuple[int, ...]


@dataclass
class LiveService:
    base_url: str
    env: dict[str, str]
    data_dir: Path
    account: Account
    server_log: Path
    worker_log: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    # Stripe, played by the emulator in its own process; the service's webhook is its target.
    stripe: EmulatorProcess | None = None
    _counter: Iterator[int] = field(default_factory=lambda: iter(range(1, 1_000_000)))
    # The long-lived Python that runs the setup commands (tests/cli_host.py), once needed.
    _host: _CliHost | None = field(default=None, repr=False, compare=False)
    _host_lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    # The main publisher, for tests that need nothing special.
    @property
    def email(self) -> str:
        return self.account.email

    @property
    def password(self) -> str:
        return self.account.password

    @property
    def publisher_id(self) -> int:
        return self.account.id

    @property
    def project_ids(self) -> tuple[int, ...]:
        return self.account.project_ids

    def url(self, path: str) -> str:
        return self.base_url + path

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run `pressrun *args` in the service's environment (no check): a real `pressrun`
        process, for tests that prove what a command does (its output, its exit code)."""
        return subprocess.run(
            [str(PRESSRUN), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def pressrun(self, *args: str, timeout: float = 120) -> str:
        """Run `pressrun *args` as a real process; fail the test unless it succeeds. Returns
        its stdout. For data a test only needs in place, `setup` is cheaper."""
        result = self.run(*args, timeout=timeout)
        if result.returncode != 0:
            pytest.fail(
                f"`pressrun {' '.join(args)}` exited {result.returncode}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
        return result.stdout

    def setup(self, *args: str, timeout: float = 120) -> str:
        """Run the management command `pressrun *args` to put data in place; fail the test
        unless it succeeds. Returns its stdout.

        It runs in the installation's long-lived Python (tests/cli_host.py: the same
        command, settings, environment and database as `pressrun *args`, without starting
        Django again, which costs about 0.6 s of CPU per process). Between two commands
        that Python holds no database connection. Use `pressrun` instead where the test
        proves what the command itself does."""
        with self._host_lock:
            if self._host is None or not self._host.serves(self.env):
                if self._host is not None:
                    self._host.stop()
                self._host = _CliHost(self.env, self.data_dir)
            result = self._host.call(args, timeout)
        if result.returncode != 0:
            pytest.fail(
                f"`pressrun {' '.join(args)}` exited {result.returncode}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
        return result.stdout

    def shell(self, code: str, timeout: float = 120) -> str:
        """Run Python code as `pressrun shell --no-imports -c` does (through `setup`); returns
        its stdout, stripped. Each call gets a fresh namespace."""
        return self.setup("shell", "--no-imports", "-c", code, timeout=timeout).strip()

    def close(self) -> None:
        """Stop the Python that runs `setup` commands (a later `setup` starts another)."""
        with self._host_lock:
            if self._host is not None:
                self._host.stop()
                self._host = None

    def unique(self, prefix: str = "INV") -> str:
        return f"{prefix}-{uuid.uuid4().hex[:8]}-{next(self._counter)}"

    def create_publisher(
        self,
        *,
        balance: str | None = None,
        projects: Sequence[tuple[str, str, str, str, int | None]] = CD_SLEEVE,
        password: str | None = None,
    ) -> Account:
        """A new publisher (and projects, and a payment) made with the CLI's commands
        (createpublisher, createproject, addcredit) through `setup`."""
        email = f"{self.unique('publisher').lower()}@example.com"
        password = password or f"pw-{uuid.uuid4().hex}"
        output = self.setup("createpublisher", "--email", email, "--password", password)
        publisher_id = _printed_id(output, "createpublisher")
        project_ids = []
        for title, media, packaging, price, project_id in projects:
            args = ["createproject", "--publisher", str(publisher_id), "--title", title]
            args += ["--media", media, "--packaging", packaging, "--price", price]
            if project_id is not None:
                args += ["--project-id", str(project_id)]
            printed = _printed_id(self.setup(*args), "createproject")
            if project_id is not None:
                assert printed == project_id, output
            project_ids.append(printed)
        if balance is not None:
            output = self.setup("addcredit", "--publisher", str(publisher_id), "--amount", balance)
            assert output.startswith("Credited $"), output
            assert "Released HOLD orders: none." in output, output
        return Account(
            id=publisher_id, email=email, password=password, project_ids=tuple(project_ids)
        )

    @contextlib.contextmanager
    def another_server(self, **env: str) -> Iterator[str]:
        """A second `pressrun serve` on the same data, with `env` added to its environment
        (e.g. shorter timeouts); yields its base URL and stops it afterwards."""
        port = _free_port()
        log = self.data_dir / f"server-{port}.log"
        with log.open("wb") as out:
            server = subprocess.Popen(
                [str(PRESSRUN), "serve", "--host", "127.0.0.1", "--port", str(port)],
                env={**self.env, **env},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            _wait_for_url(f"http://127.0.0.1:{port}/health", server, lambda: _read(log))
            yield f"http://127.0.0.1:{port}"
        finally:
            _stop(server)
        output = _read(log)
        assert "Traceback" not in output, output

    def logs(self) -> str:
        return (
            f"--- server output ---\n{_read(self.server_log)}\n"
            f"--- worker output ---\n{_read(self.worker_log)}"
        )


def _printed_id(output: str, command: str) -> int:
    text = output.strip()
    assert re.fullmatch(r"[1-9]\d*", text), f"`pressrun {command}` printed {output!r}"
    return int(text)


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _CliHost:
    """tests/cli_host.py running in an installation's environment: `call` runs one
    management command there and returns what `subprocess.run` would have."""

    # A host nobody calls for this long ends by itself (a later call starts another), so a
    # test's own installation that is never closed does not keep one for the whole session.
    IDLE_SECONDS = 60

    def __init__(self, env: dict[str, str], data_dir: Path) -> None:
        self.env = dict(env)
        self.log = data_dir / "cli-host.log"
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, str(CLI_HOST)],
                env={**self.env, "PRESSRUN_CLI_HOST_IDLE_SECONDS": str(self.IDLE_SECONDS)},
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                start_new_session=True,
            )
        _HOSTS.add(self)
        self.last_used = time.monotonic()
        self._answer(STARTUP_TIMEOUT_SECONDS, what="the command host to start")

    def serves(self, env: dict[str, str]) -> bool:
        """Whether this host can run commands for `env` (same environment, still alive, not
        about to end for idleness)."""
        return (
            env == self.env
            and self.process.poll() is None
            and time.monotonic() - self.last_used < self.IDLE_SECONDS - 10
        )

    def call(self, args: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(list(args)).encode() + b"\n")
        self.process.stdin.flush()
        answer = self._answer(timeout, what=f"`pressrun {' '.join(args)}`", args=args)
        self.last_used = time.monotonic()
        return subprocess.CompletedProcess(
            ["pressrun", *args], answer["returncode"], answer["stdout"], answer["stderr"]
        )

    def _answer(self, timeout: float, *, what: str, args: Sequence[str] = ()) -> dict[str, Any]:
        assert self.process.stdout is not None
        readable, _, _ = select.select([self.process.stdout], [], [], timeout)
        line = self.process.stdout.readline() if readable else b""
        if not line:
            timed_out = not readable
            self.stop()
            if timed_out:
                raise subprocess.TimeoutExpired(["pressrun", *args], timeout, _read(self.log))
            pytest.fail(f"the command host ended while waiting for {what}\n{_read(self.log)}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def stop(self) -> None:
        _HOSTS.discard(self)
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        try:
            self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        if self.process.stdout is not None:
            self.process.stdout.close()


_HOSTS: set[_CliHost] = set()


def _base_environment(data_dir: Path) -> dict[str, str]:
    # Nothing from the test runner's own pressrun settings leaks into the service.
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("PRESSRUN_") and key != "DJANGO_SETTINGS_MODULE"
    }
    env.update(
        {
            "PRESSRUN_DATA_DIR": str(data_dir),
            "PRESSRUN_SECRET_KEY": SECRET_KEY,
            # Every test request comes from 127.0.0.1: the per-address limit would let one
            # test's wrong passwords lock out the next test. Per account stays at its default.
            "PRESSRUN_LOGIN_FAILURES_PER_ADDRESS": "100000",
            # Likewise the cart and warehouse endpoints' budgets for requests whose sender
            # does not check out (wrong tokens, signatures, passwords), counted per address.
            "PRESSRUN_CART_UNVERIFIED_PER_MINUTE": "100000",
            "PRESSRUN_WAREHOUSE_UNVERIFIED_PER_MINUTE": "100000",
            # The worker notices abandoned tasks at every heartbeat; keep the test short.
            "PRESSRUN_WORKER_HEARTBEAT_SECONDS": "1",
            # A SamCart order's notifications wait this long for each other (default 10 s);
            # a test's POSTs all arrive well within 2 s, and the tests wait less.
            "PRESSRUN_SAMCART_GRACE_SECONDS": "2",
            # The postage window's task runs every second instead of every minute, so a
            # test sees an order become ready soon after its window ends.
            "PRESSRUN_POSTAGE_WINDOW_SWEEP_SECONDS": "1",
            # Publisher webhooks go to receivers the tests run on 127.0.0.1.
            "PRESSRUN_WEBHOOKS_ALLOW_LOOPBACK": "1",
            # A fast hasher, as in the in-process tests: PBKDF2 at its production cost is
            # about 0.5 s of CPU per login and per account created, for nothing these tests
            # prove. Hashing is tested in tests/accounts; the production hashers run end to
            # end in tests/e2e/test_served_address_http.py, which removes this setting.
            "PRESSRUN_FAST_PASSWORD_HASHER": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def scratch_database_name(kind: str) -> str:
    """A new database name for a test's own PostgreSQL database. Under `make test` it carries
    the run's id (PRESSRUN_TEST_RUN_ID), so the run can tell whether any was left behind."""
    run_id = os.environ.get("PRESSRUN_TEST_RUN_ID", "").strip()
    tag = f"{run_id}_" if run_id.isalnum() else ""
    return f"pressrun_{kind}_{tag}{uuid.uuid4().hex[:12]}"


@dataclass
class _PostgresDatabase:
    admin_url: str
    name: str

    @property
    def url(self) -> str:
        parts = urlsplit(self.admin_url)
        return urlunsplit(parts._replace(path="/" + self.name))

    def _connect(self) -> psycopg.Connection[Any]:
        import psycopg

        parts = urlsplit(self.admin_url)
        # psycopg understands postgresql:// and postgres://; dj-database-url more aliases.
        return psycopg.connect(urlunsplit(parts._replace(scheme="postgresql")), autocommit=True)

    def create(self, template: str | None = None) -> None:
        """Create it empty, or as a copy of the database named `template` (which nobody may
        be connected to)."""
        copy = f' TEMPLATE "{template}"' if template else ""
        with self._connect() as connection:
            connection.execute(f'CREATE DATABASE "{self.name}"{copy}')

    def drop(self) -> None:
        with self._connect() as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


@dataclass
class _MigratedTemplate:
    """A database as the real `pressrun migrate` leaves an empty one, made once per test
    process: on SQLite the file `directory/pressrun.sqlite3`, on PostgreSQL `database`."""

    directory: Path
    database: _PostgresDatabase | None

    def remove(self) -> None:
        if self.database is not None:
            self.database.drop()
        shutil.rmtree(self.directory, ignore_errors=True)


_TEMPLATES: dict[str, _MigratedTemplate] = {}
_TEMPLATES_LOCK = threading.Lock()


def _migrated_template(admin_url: str) -> _MigratedTemplate:
    """This process's template for the PostgreSQL server at `admin_url` ('' for SQLite),
    made on first use with `pressrun migrate` on an empty database."""
    with _TEMPLATES_LOCK:
        template = _TEMPLATES.get(admin_url)
        if template is not None:
            return template
        template = _MigratedTemplate(
            directory=Path(tempfile.mkdtemp(prefix="pressrun-template-")), database=None
        )
        env = _base_environment(template.directory)
        if admin_url:
            template.database = _PostgresDatabase(admin_url, scratch_database_name("template"))
            template.database.create()
            env["PRESSRUN_DATABASE_URL"] = template.database.url
        result = subprocess.run(
            [str(PRESSRUN), "migrate", "--no-input", "-v", "0"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if result.returncode != 0:
            template.remove()
            pytest.fail(
                f"`pressrun migrate` on an empty database exited {result.returncode}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
        if not admin_url:
            # Everything in the one file: no write-ahead log left beside it to copy.
            with contextlib.closing(sqlite3.connect(template.directory / SQLITE_FILE)) as db:
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        _TEMPLATES[admin_url] = template
        return template


def remove_migrated_templates() -> None:
    """Remove this process's templates (tests/conftest.py calls it when the session ends)."""
    with _TEMPLATES_LOCK:
        while _TEMPLATES:
            _TEMPLATES.popitem()[1].remove()


def stop_command_hosts() -> None:
    """Stop every command host still running (tests/conftest.py, at the session's end)."""
    for host in list(_HOSTS):
        host.stop()


atexit.register(remove_migrated_templates)
atexit.register(stop_command_hosts)


def migrated_database(
    env: dict[str, str], data_dir: Path, kind: str = "e2e"
) -> _PostgresDatabase | None:
    """Give a fresh installation (its environment `env`, its empty data dir `data_dir`) the
    database `pressrun migrate` would leave it, by copying this process's migrated template.

    When PRESSRUN_DATABASE_URL is set (a PostgreSQL server), a new database is made on it
    from the template, `env` gets its PRESSRUN_DATABASE_URL, and it is returned: the caller
    drops it (`.drop()`). On SQLite the database file is copied into `data_dir` and None is
    returned. Tests that prove what `pressrun migrate` does run it instead."""
    admin_url = os.environ.get("PRESSRUN_DATABASE_URL", "").strip()
    template = _migrated_template(admin_url)
    if template.database is None:
        target = data_dir / SQLITE_FILE
        assert not target.exists(), f"{target} exists: the data dir is not a fresh one"
        shutil.copyfile(template.directory / SQLITE_FILE, target)
        return None
    database = _PostgresDatabase(admin_url, scratch_database_name(kind))
    database.create(template=template.database.name)
    env["PRESSRUN_DATABASE_URL"] = database.url
    return database


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        # The process group is the one started for this process (start_new_session), so
        # this reaches its server processes too and nothing else.
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_TIMEOUT_SECONDS)


def _wait_for_url(url: str, server: subprocess.Popen[bytes], logs: Callable[[], str]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    last_error: object = None
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"`pressrun serve` exited with {server.returncode}\n{logs()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError) as exc:
            last_error = exc
        time.sleep(0.1)
    pytest.fail(
        f"GET {url} did not answer within {STARTUP_TIMEOUT_SECONDS:.0f} s "
        f"({last_error!r})\n{logs()}"
    )


def _wait_for_health(service: LiveService, server: subprocess.Popen[bytes]) -> None:
    _wait_for_url(service.url("/health"), server, service.logs)


def _wait_for_worker(service: LiveService, worker: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            pytest.fail(f"`pressrun worker` exited with {worker.returncode}\n{service.logs()}")
        if "pressrun worker " in _read(service.worker_log):
            return
        time.sleep(0.1)
    pytest.fail(f"`pressrun worker` did not start in time\n{service.logs()}")


@pytest.fixture(scope="session")
def oneshoppingcart_api() -> Iterator[Emulator]:
    """1ShoppingCart's API, played by the local emulator, for the whole session's service."""
    with oneshoppingcart_emulator.running() as emulator:
        yield emulator


@pytest.fixture(scope="session")
def live_service(
    tmp_path_factory: pytest.TempPathFactory, oneshoppingcart_api: Emulator
) -> Iterator[LiveService]:
    data_dir = tmp_path_factory.mktemp("pressrun-e2e")
    env = _base_environment(data_dir)
    env["PRESSRUN_ONESHOPPINGCART_API_URL"] = oneshoppingcart_api.base_url
    # Cart API retries start at about 0.5 s instead of 30 s, so a test sees them through.
    env["PRESSRUN_CART_RETRY_BASE_SECONDS"] = "0.5"
    database = migrated_database(env, data_dir)

    port = _free_port()
    # Links in emails (address changes, password resets) point at this service.
    env["PRESSRUN_PUBLIC_BASE_URL"] = f"http://127.0.0.1:{port}"
    service = LiveService(
        base_url=f"http://127.0.0.1:{port}",
        env=env,
        data_dir=data_dir,
        account=Account(id=0, email="", password="", project_ids=()),  # set below
        server_log=data_dir / "server.log",
        worker_log=data_dir / "worker.log",
    )
    try:
        service.stripe = stripe_emulator.start_process(
            webhook_url=f"http://127.0.0.1:{port}/payments/stripe/webhook"
        )
        env["PRESSRUN_STRIPE_SECRET_KEY"] = service.stripe.secret_key
        env["PRESSRUN_STRIPE_WEBHOOK_SECRET"] = service.stripe.webhook_secret
        env["PRESSRUN_STRIPE_API_BASE"] = service.stripe.base_url
        service.account = service.create_publisher(
            balance="1000.00", projects=MAIN_PROJECTS, password="correct horse battery"
        )
        assert service.account.project_ids == (66750, 66760, 66770)

        with service.server_log.open("wb") as server_out:
            server = subprocess.Popen(
                [str(PRESSRUN), "serve", "--host", "127.0.0.1", "--port", str(port)],
                env=env,
                stdout=server_out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        service.processes.append(server)
        with service.worker_log.open("wb") as worker_out:
            worker = subprocess.Popen(
                [str(PRESSRUN), "worker"],
                env=env,
                stdout=worker_out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        service.processes.append(worker)
        _wait_for_health(service, server)
        _wait_for_worker(service, worker)

        yield service

        for process in service.processes:
            _stop(process)
        server_output = _read(service.server_log)
        assert "Traceback" not in server_output, server_output
        worker_output = _read(service.worker_log)
        assert "Traceback" not in worker_output, worker_output
    finally:
        service.close()
        for process in service.processes:
            _stop(process)
        if service.stripe is not None:
            service.stripe.stop()
        if database is not None:
            database.drop()


@contextlib.contextmanager
def running_service(data_dir: Path, **extra_env: str) -> Iterator[LiveService]:
    """A fresh installation of its own, for tests that need the service started with more
    settings than the session's (e.g. a cart's API address pointing at an emulator):
    migrated (`migrated_database`), with no publisher yet (`account` is a blank placeholder),
    `pressrun serve` and `pressrun worker` started with `extra_env` added to their
    environment. On a PostgreSQL database of its own when PRESSRUN_DATABASE_URL is set
    (dropped afterwards). On leaving, both processes are stopped and their output must hold
    no traceback."""
    env = {**_base_environment(data_dir), **extra_env}
    database = migrated_database(env, data_dir)
    port = _free_port()
    env["PRESSRUN_PUBLIC_BASE_URL"] = f"http://127.0.0.1:{port}"
    service = LiveService(
        base_url=f"http://127.0.0.1:{port}",
        env=env,
        data_dir=data_dir,
        account=Account(id=0, email="", password="", project_ids=()),
        server_log=data_dir / "server.log",
        worker_log=data_dir / "worker.log",
    )
    try:
        with service.server_log.open("wb") as server_out:
            server = subprocess.Popen(
                [str(PRESSRUN), "serve", "--host", "127.0.0.1", "--port", str(port)],
                env=env,
                stdout=server_out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        service.processes.append(server)
        _wait_for_health(service, server)
        with service.worker_log.open("wb") as worker_out:
            worker = subprocess.Popen(
                [str(PRESSRUN), "worker"],
                env=env,
                stdout=worker_out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        service.processes.append(worker)
        _wait_for_worker(service, worker)
        yield service
        for process in service.processes:
            _stop(process)
        assert "Traceback" not in service.logs(), service.logs()
    finally:
        service.close()
        for process in service.processes:
            _stop(process)
        if database is not None:
            database.drop()
