"""The shell blocks of docs/operations.md, docs/warehouses.md and the cart guides run as
written.

The contract is in tests/docs_shell.py. docs/operations.md and docs/warehouses.md run in a
fresh data dir, their `--port 8000` / `localhost:8000` / `127.0.0.1:8000` moved to a free
port. A cart guide runs against a live pressrun (server and worker) prepared as `make run`
prepares a fresh one (migrated + `pressrun demo`), with `http://127.0.0.1:8000` replaced by
its address; its sample requests must work against the demo publisher's documented values.

`make test` runs this file in its SQLite half only, as the documents' installations are
SQLite ones (scripts/run_tests.py, POSTGRES_HALF_ARGS); run by hand with
PRESSRUN_DATABASE_URL set, operations.md and warehouses.md run on a new database of that
server (`fresh_database`), as operations.md says they would.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.carts.oneshoppingcart_emulator import Emulator
from tests.docs_shell import (
    ROOT,
    BlocksRun,
    DocFormatError,
    ShellBlock,
    block_environment,
    run_blocks,
    scratch_dir,
    sh_blocks,
)
from tests.live import (
    PRESSRUN,
    Account,
    LiveService,
    _base_environment,
    _free_port,
    _PostgresDatabase,
    _read,
    _stop,
    _wait_for_health,
    _wait_for_worker,
    migrated_database,
    scratch_database_name,
)

pytestmark = pytest.mark.e2e

OPERATIONS = ROOT / "docs" / "operations.md"
CART_GUIDES = sorted((ROOT / "docs" / "carts").glob("*.md"))
# Generous for a loaded 2-core machine (a migrate alone takes seconds), but bounded.
DOC_TIMEOUT_SECONDS = 300.0
DEMO_ADDRESS = "http://127.0.0.1:8000"
OPERATIONS_PORT = re.compile(r"(--port[ =]|localhost:|127\.0\.0\.1:)8000\b")


@contextmanager
def fresh_database(work: Path) -> Iterator[dict[str, str]]:
    """Settings for a fresh database: PostgreSQL (created here, dropped after) when the test
    run is on PostgreSQL, else nothing: SQLite in the fresh data dir."""
    admin_url = os.environ.get("PRESSRUN_DATABASE_URL", "").strip()
    if not admin_url:
        yield {}
        return
    database = _PostgresDatabase(admin_url, scratch_database_name("docs"))
    database.create()
    try:
        yield {"PRESSRUN_DATABASE_URL": database.url}
    finally:
        database.drop()


def test_operations_examples_run_as_written() -> None:
    blocks = sh_blocks(OPERATIONS)
    assert blocks, "docs/operations.md has no ```sh block to run"
    port = _free_port()
    with scratch_dir("pressrun-docs-") as work, fresh_database(work) as database:
        (work / "data").mkdir()
        (work / "tmp").mkdir()
        env = block_environment(work / "data", work / "tmp", database)
        run = run_blocks(
            blocks,
            env=env,
            work_dir=work,
            timeout=DOC_TIMEOUT_SECONDS,
            substitute=lambda code: OPERATIONS_PORT.sub(rf"\g<1>{port}", code),
        )
        assert run.ok, run.failure()
        # "From nothing to an order": the order was placed.
        assert "[SUCCESS]" in run.output, run.output
        # The example cleans up after itself: nothing is left in the temporary directory.
        assert sorted(p.name for p in (work / "tmp").iterdir()) == []


WAREHOUSES = ROOT / "docs" / "warehouses.md"


def test_warehouses_examples_run_as_written() -> None:
    blocks = sh_blocks(WAREHOUSES)
    assert blocks, "docs/warehouses.md has no ```sh block to run"
    with scratch_dir("pressrun-docs-") as work, fresh_database(work) as database:
        (work / "data").mkdir()
        (work / "tmp").mkdir()
        env = block_environment(work / "data", work / "tmp", database)
        port = _free_port()
        run = run_blocks(
            blocks,
            env=env,
            work_dir=work,
            timeout=DOC_TIMEOUT_SECONDS,
            substitute=lambda code: OPERATIONS_PORT.sub(rf"\g<1>{port}", code),
        )
        assert run.ok, run.failure()
        # The pull: an enabled warehouse with no orders yet, and a notice for none of them.
        assert '<Orders pages="1" />' in run.output, run.output
        assert "No warehouse order 'WH-1' is shipped from here.\n(HTTP 404)" in run.output
        # The output the page shows after the example.
        imported = (
            "add     SHIRT-M -> 1 x ACME-TEE-M\n"
            "add     GIFTSET -> 1 x ACME-BOOK + 2 x ACME-MUG\n"
            "2 added, 0 changed, 0 removed, 0 unchanged\n"
        )
        assert imported + "Dry run: nothing was changed.\n" + imported in run.output, run.output
        assert "Line 3: warehouse_sku is blank." in run.output, run.output
        codes = (
            "add     USPS_PRIORITY (USPS) USPS Priority Mail\n"
            "add     UPS_GROUND (UPS) UPS Ground, residential\n"
            "2 added, 0 changed, 0 unchanged\n"
        )
        assert codes + "Dry run: nothing was changed.\n" + codes in run.output, run.output
        assert "Line 3: Code is blank." in run.output, run.output
        assert "imported?!" not in run.output
        # The push: the secret printed once, a signed stock report taken, a signed
        # confirmation for no order of the warehouse, and a forged one refused.
        assert re.search(
            r"^id=\d+ url=https://wms\.example\.com/pressrun/orders secret=wmssec_[\w-]{43}$",
            run.output,
            re.MULTILINE,
        ), run.output
        assert (
            '{"ok": true, "received": 1, "changed": 1, "unchanged": 0, "older": 0} (HTTP 200)'
            in run.output
        ), run.output
        assert (
            '{"ok": false, "error": "No warehouse order \'WH-1\' is shipped from here.", '
            '"order_id": "WH-1", "confirmation_id": "", "tracking_number": "1Z999AA10123456784"}'
            " (HTTP 404)" in run.output
        ), run.output
        assert '"error": "X-Pressrun-Signature does not match: ' in run.output
        assert "(HTTP 401)" in run.output
        assert sorted(p.name for p in (work / "tmp").iterdir()) == []


@contextmanager
def demo_installation(work: Path, emulator: Emulator) -> Iterator[LiveService]:
    """A live pressrun on a database prepared as a fresh `make run` prepares it: migrated
    (a copy of the test process's template, which `pressrun migrate` made on an empty
    database: tests/live.py), then `pressrun demo`, run through `setup` (the command in the
    installation's long-lived Python: only its data is needed here; make run's own sequence,
    with the real `pressrun demo` process, is tests/e2e/test_served_address_http.py)."""
    data_dir = work / "data"
    data_dir.mkdir()
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = _base_environment(data_dir)
    env["PRESSRUN_PUBLIC_BASE_URL"] = base_url
    # The carts' outside APIs are emulated locally (no request leaves the machine).
    env["PRESSRUN_ONESHOPPINGCART_API_URL"] = emulator.base_url
    database = migrated_database(env, data_dir, "docs")
    service = LiveService(
        base_url=base_url,
        env=env,
        data_dir=data_dir,
        account=Account(id=0, email="", password="", project_ids=()),
        server_log=work / "server.log",
        worker_log=work / "worker.log",
    )
    try:
        service.setup("demo")
        for name, command in (
            ("server", ["serve", "--host", "127.0.0.1", "--port", str(port)]),
            ("worker", ["worker"]),
        ):
            with (work / f"{name}.log").open("wb") as log:
                service.processes.append(
                    subprocess.Popen(
                        [str(PRESSRUN), *command],
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        _wait_for_health(service, service.processes[0])
        _wait_for_worker(service, service.processes[1])
        yield service
    finally:
        service.close()
        for process in service.processes:
            _stop(process)
        if database is not None:
            database.drop()


def run_cart_guide(guide: Path, emulator: Emulator) -> None:
    """Run the guide's blocks against a fresh demo installation; fail the test with the block,
    its output and the service's logs when one fails or the service logged a traceback."""
    blocks = sh_blocks(guide)
    if not blocks:
        return  # nothing in this guide is meant to be pasted into a shell
    with scratch_dir("pressrun-docs-") as work:
        (work / "tmp").mkdir()
        with demo_installation(work, emulator) as service:
            # The reader's shell talks to the installation `make run` made.
            env = block_environment(service.data_dir, work / "tmp", {})
            env.update({k: v for k, v in service.env.items() if k.startswith("PRESSRUN_")})
            run = run_blocks(
                blocks,
                env=env,
                work_dir=work,
                timeout=DOC_TIMEOUT_SECONDS,
                substitute=lambda code: code.replace(DEMO_ADDRESS, service.base_url),
            )
            # Let the worker finish what the samples queued before its log is read.
            time.sleep(1)
        assert run.ok, run.failure() + "\n" + service.logs()
        for log in (work / "server.log", work / "worker.log"):
            assert "Traceback" not in _read(log), _read(log)


@pytest.mark.parametrize("guide", CART_GUIDES, ids=lambda path: path.name)
def test_cart_guide_runs_as_written(guide: Path, oneshoppingcart_api: Emulator) -> None:
    run_cart_guide(guide, oneshoppingcart_api)


def test_a_guide_talks_to_a_fresh_demo_installation(
    tmp_path: Path, oneshoppingcart_api: Emulator
) -> None:
    """What a cart guide can count on: the demo's documented login and projects answer at
    the address the guide writes, and `pressrun` commands see the same installation."""
    guide = tmp_path / "guide.md"
    guide.write_text(
        "```sh\n"
        "curl -sS --fail-with-body http://127.0.0.1:8000/health\n"
        "curl -sS --fail-with-body 'http://127.0.0.1:8000/gateway/order' \\\n"
        "  --data-urlencode 'ordermethod=url' --data-urlencode 'source=cdfulfill' \\\n"
        "  --data-urlencode 'CoLoginEmail=demo@pressrun.localhost' \\\n"
        "  --data-urlencode 'CoLoginPassword=demo-password' --data-urlencode 'mode=test' \\\n"
        "  --data-urlencode 'productid=66750' --data-urlencode 'Invoice=GUIDE-1' \\\n"
        "  --data-urlencode 'name=Ann' --data-urlencode 'addr=1 Main St' \\\n"
        "  --data-urlencode 'city=Austin' --data-urlencode 'st=TX' --data-urlencode 'zip=78701'"
        " | grep -x 'Invoice: GUIDE-1'\n"
        "```\n\n"
        "```sh\n"
        "pressrun shell -c 'from pressrun.orders.models import Order; "
        'print(Order.objects.get(invoice="GUIDE-1").publisher.email)\' '
        "| grep -x demo@pressrun.localhost\n"
        "curl -sS --fail-with-body http://127.0.0.1:8000/no-such-page\n"
        "```\n",
        encoding="utf-8",
    )
    with pytest.raises(AssertionError) as failed:
        run_cart_guide(guide, oneshoppingcart_api)
    message = str(failed.value)
    # The first block and the shell check passed; the 404 fails the block, with its output.
    assert "block 2 of 2) failed with exit code 22" in message
    assert "curl -sS --fail-with-body http://127.0.0.1:" in message
    assert "http://127.0.0.1:8000" not in message.split("--- server output ---", maxsplit=1)[0]


# --- the runner itself ----------------------------------------------------------------------


def _doc(directory: Path, text: str) -> Path:
    path = directory / "guide.md"
    path.write_text(text, encoding="utf-8")
    return path


def test_blocks_are_found_in_order_indented_and_skippable(tmp_path: Path) -> None:
    doc = _doc(
        tmp_path,
        "# Guide\n\n```sh\necho one\n```\n\n"
        "1. In a list:\n\n   ```sh\n   echo two\n   if true; then\n"
        "     echo three\n   fi\n   ```\n\n"
        "```text\nnot run\n```\n\n```console\n$ not run\n```\n\n"
        "<!-- docs-test: skip — needs a real shop -->\n```sh\nexit 1\n```\n\n"
        "````md\n```sh\nnested, not run\n```\n````\n",
    )
    blocks = sh_blocks(doc)
    assert [(b.line, b.code) for b in blocks] == [
        (3, "echo one\n"),
        (9, "echo two\nif true; then\n  echo three\nfi\n"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("```sh\necho never closed\n", "never closed"),
        ("<!-- docs-test: skip -->\n```sh\necho\n```\n", "needs a reason"),
    ],
)
def test_a_broken_document_is_reported(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(DocFormatError, match=message):
        sh_blocks(_doc(tmp_path, text))


def _run(tmp_path: Path, text: str, *, timeout: float = 60) -> tuple[list[ShellBlock], BlocksRun]:
    blocks = sh_blocks(_doc(tmp_path, text))
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "tmp").mkdir(exist_ok=True)
    env = block_environment(tmp_path / "data", tmp_path / "tmp", {})
    return blocks, run_blocks(blocks, env=env, work_dir=tmp_path, timeout=timeout)


def test_blocks_share_one_shell_with_the_virtualenv_and_a_fresh_data_dir(tmp_path: Path) -> None:
    text = (
        "```sh\nGREETING=hello\ncommand -v pressrun\n```\n\n"
        '```sh\necho "$GREETING from $(pwd)"\necho "data: $PRESSRUN_DATA_DIR"\n'
        'echo "set: $-"\n```\n'
    )
    _, run = _run(tmp_path, text)
    assert run.ok, run.failure()
    lines = run.output.splitlines()
    assert lines[0] == str(PRESSRUN)
    assert lines[1] == f"hello from {ROOT}"
    assert lines[2] == f"data: {tmp_path / 'data'}"
    options = lines[3].removeprefix("set: ")
    assert "e" in options
    assert "u" in options


def test_a_failure_names_the_block_its_output_and_exit_code(tmp_path: Path) -> None:
    text = "Intro.\n\n```sh\necho first block ran\n```\n\n```sh\necho about to fail\nexit 7\n```\n"
    blocks, run = _run(tmp_path, text)
    assert not run.ok
    message = run.failure()
    assert f"the ```sh block at {blocks[1].doc}:7 (block 2 of 2) failed with exit code 7" in message
    assert "--- the block as it ran ---\necho about to fail\nexit 7\n" in message
    assert message.endswith("first block ran\nabout to fail")


def test_a_failing_pipeline_or_unset_variable_fails_the_block(tmp_path: Path) -> None:
    for code in ("false | cat", "echo $NOT_SET_ANYWHERE"):
        work = tmp_path / uuid.uuid4().hex
        work.mkdir()
        _, run = _run(work, f"```sh\n{code}\necho not reached\n```\n")
        assert not run.ok, code
        assert "not reached" not in run.output


def test_background_processes_are_stopped_even_outside_the_group(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    text = (
        f"```sh\nsleep 300 & echo $! > {pids}\n"
        f"setsid sleep 301 & echo $! >> {pids}\necho started\n```\n"
    )
    _, run = _run(tmp_path, text)
    assert run.ok, run.failure()
    started = [int(pid) for pid in pids.read_text().split()]
    assert len(started) == 2
    for pid in started:
        assert not Path(f"/proc/{pid}").exists() or _is_zombie(pid), pid


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def test_a_block_that_hangs_is_killed_at_the_timeout(tmp_path: Path) -> None:
    started = time.monotonic()
    _, run = _run(tmp_path, "```sh\necho waiting\nsleep 120\n```\n", timeout=2)
    assert time.monotonic() - started < 30
    assert run.exit_code is None
    assert "did not finish within 2 s (killed)" in run.failure()


def test_the_scratch_directory_is_removed_even_on_failure() -> None:
    made: list[Path] = []

    def fail_inside() -> None:
        with scratch_dir("pressrun-docs-") as work:
            made.append(work)
            (work / "file").write_text("x")
            raise RuntimeError("block failed")

    with pytest.raises(RuntimeError):
        fail_inside()
    assert len(made) == 1
    assert not made[0].exists()
