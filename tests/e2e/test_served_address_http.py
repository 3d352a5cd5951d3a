"""`make run PORT=8101` prints 8101 everywhere: a fresh installation prepared as `make run`
does (migrate, `pressrun serve` on the port, `pressrun demo`), with no
PRESSRUN_PUBLIC_BASE_URL in any environment, then `pressrun carturls` from another "shell"
prints the port the server really answers on, and so does the demo's banner.

It is also the suite's end-to-end run of `make run`'s own path on both databases: the real
`pressrun migrate` on an empty database (the other installations copy a migrated template,
tests/live.py) and the production password hashers."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live import (
    PRESSRUN,
    STARTUP_TIMEOUT_SECONDS,
    _base_environment,
    _free_port,
    _PostgresDatabase,
    _stop,
)

pytestmark = pytest.mark.e2e
WAIT_FOR_SERVER = Path(__file__).resolve().parents[2] / "scripts" / "wait_for_server.py"


def _run(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [str(PRESSRUN), *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result.stdout


@pytest.fixture
def fresh_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = _base_environment(tmp_path)
    assert "PRESSRUN_PUBLIC_BASE_URL" not in env
    # `make run`'s installation hashes passwords as in production (the demo's accounts, the
    # gateway's sign-in): the one end-to-end run of the production hashers.
    del env["PRESSRUN_FAST_PASSWORD_HASHER"]
    database = None
    admin_url = os.environ.get("PRESSRUN_DATABASE_URL", "").strip()
    if admin_url:
        database = _PostgresDatabase(admin_url, f"pressrun_e2e_{uuid.uuid4().hex[:12]}")
        database.create()
        env["PRESSRUN_DATABASE_URL"] = database.url
    try:
        yield env
    finally:
        if database is not None:
            database.drop()


def test_a_server_started_on_another_port_is_the_address_every_command_prints(
    fresh_env: dict[str, str], tmp_path: Path
) -> None:
    port = _free_port()  # 8101 in the issue; a free one here, so parallel runs cannot clash
    base = f"http://127.0.0.1:{port}"
    _run(fresh_env, "migrate", "--no-input", "-v", "0")
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(
        [str(PRESSRUN), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=fresh_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        waited = subprocess.run(
            [str(PRESSRUN.parent / "python"), str(WAIT_FOR_SERVER), base],
            timeout=STARTUP_TIMEOUT_SECONDS + 30,
            check=False,
        )
        assert waited.returncode == 0, (tmp_path / "server.log").read_text()
        banner = _run(fresh_env, "demo")
        assert f"Publisher dashboard: {base}/" in banner
        assert f"curl -s '{base}/gateway/order'" in banner
        assert "8000" not in banner

        urls = _run(fresh_env, "carturls", "--publisher", "66870").splitlines()
        assert urls[0] == f"Shopify: {base}/carts/shopify?idpub=66870"
        assert len(urls) == 6
        assert all(line.split(": ", 1)[1].startswith(f"{base}/carts/") for line in urls), urls
    finally:
        _stop(server)
        log.close()
    served = (tmp_path / "server.log").read_text()
    assert f"Public base URL: {base} (the address pressrun serve last started on)" in served
    assert "Traceback" not in served

    # An operator saves the address carts really reach: it wins from then on.
    code = (
        "from pressrun.core.services import installation_set_public_base_url as s; "
        "s(url='https://orders.example.com', actor='operator:test')"
    )
    _run(fresh_env, "shell", "--no-imports", "-c", code)
    urls = _run(fresh_env, "carturls", "--publisher", "66870").splitlines()
    assert urls[0] == "Shopify: https://orders.example.com/carts/shopify?idpub=66870"
