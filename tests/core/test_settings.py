"""Settings read from the environment: cookie security follows how the site is published."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

READ = (
    "import json, pressrun.settings as s; print(json.dumps([s.SESSION_COOKIE_SECURE, "
    "s.CSRF_COOKIE_SECURE, list(getattr(s, 'SECURE_PROXY_SSL_HEADER', None) or [])]))"
)


def settings_with(tmp_path: Path, **env: str) -> list[object]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PRESSRUN_")}
    clean["PRESSRUN_DATA_DIR"] = str(tmp_path)
    output = subprocess.run(
        [sys.executable, "-c", READ],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return list(json.loads(output))


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, [False, False, []]),
        ({"PRESSRUN_PUBLIC_BASE_URL": "http://127.0.0.1:8000"}, [False, False, []]),
        ({"PRESSRUN_PUBLIC_BASE_URL": "https://orders.example.com"}, [True, True, []]),
        ({"PRESSRUN_PUBLIC_BASE_URL": "HTTPS://orders.example.com"}, [True, True, []]),
        (
            {
                "PRESSRUN_PUBLIC_BASE_URL": "https://orders.example.com",
                "PRESSRUN_SECURE_COOKIES": "0",
            },
            [False, False, []],
        ),
        ({"PRESSRUN_SECURE_COOKIES": "1"}, [True, True, []]),
        (
            {"PRESSRUN_PROXY_HTTPS_HEADER": "X-Forwarded-Proto"},
            [False, False, ["HTTP_X_FORWARDED_PROTO", "https"]],
        ),
    ],
)
def test_cookies_are_secure_when_published_on_https(
    tmp_path: Path, env: dict[str, str], expected: list[object]
) -> None:
    assert settings_with(tmp_path, **env) == expected


PAYMENTS = (
    "import json, pressrun.settings as s; print(json.dumps([s.STRIPE_API_BASE, "
    "s.STRIPE_CHECKOUT_ORIGIN, str(s.PAYMENT_MINIMUM), str(s.PAYMENT_MAXIMUM)]))"
)


def payment_settings(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PRESSRUN_")}
    clean["PRESSRUN_DATA_DIR"] = str(tmp_path)
    return subprocess.run(
        [sys.executable, "-c", PAYMENTS],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, ["https://api.stripe.com", "https://checkout.stripe.com", "5.00", "10000.00"]),
        (
            {
                "PRESSRUN_STRIPE_API_BASE": "http://127.0.0.1:12111/",
                "PRESSRUN_PAYMENT_MINIMUM": "1",
            },
            ["http://127.0.0.1:12111", "http://127.0.0.1:12111", "1.00", "10000.00"],
        ),
        (
            {
                "PRESSRUN_STRIPE_API_BASE": "https://stripe-proxy.example.com/api",
                "PRESSRUN_STRIPE_CHECKOUT_ORIGIN": "https://pay.example.com",
            },
            [
                "https://stripe-proxy.example.com/api",
                "https://pay.example.com",
                "5.00",
                "10000.00",
            ],
        ),
    ],
)
def test_payment_settings(tmp_path: Path, env: dict[str, str], expected: list[str]) -> None:
    result = payment_settings(tmp_path, **env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == expected


@pytest.mark.parametrize(
    "env",
    [
        {"PRESSRUN_PAYMENT_MINIMUM": "0.10"},
        {"PRESSRUN_PAYMENT_MINIMUM": "50", "PRESSRUN_PAYMENT_MAXIMUM": "20"},
        {"PRESSRUN_PAYMENT_MAXIMUM": "1e4"},
    ],
)
def test_payment_limits_that_cannot_work_stop_the_start(
    tmp_path: Path, env: dict[str, str]
) -> None:
    result = payment_settings(tmp_path, **env)
    assert result.returncode != 0
    assert "PRESSRUN_PAYMENT_MINIMUM" in result.stderr or "'1e4' is not an amount" in result.stderr


READ_SECURITY = (
    "import json, pressrun.settings as s; print(json.dumps([s.CLIENT_ADDRESS_HEADER, "
    "s.TRUSTED_PROXY_COUNT, s.PRESSRUN_HSTS_SECONDS, s.LOGIN_FAILURES_FREE_PER_ADDRESS, "
    "s.LOGIN_FAILURES_PER_ACCOUNT, s.LOGIN_FAILURES_PER_ADDRESS, s.KNOWN_ADDRESS_DAYS]))"
)


def _read_security(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PRESSRUN_")}
    clean["PRESSRUN_DATA_DIR"] = str(tmp_path)
    return subprocess.run(
        [sys.executable, "-c", READ_SECURITY],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_security_defaults(tmp_path: Path) -> None:
    result = _read_security(tmp_path)
    assert json.loads(result.stdout) == ["", 1, 31_536_000, 5, 100, 30, 90]
    result = _read_security(
        tmp_path,
        PRESSRUN_CLIENT_ADDRESS_HEADER=" X-Forwarded-For ",
        PRESSRUN_TRUSTED_PROXY_COUNT="2",
    )
    assert json.loads(result.stdout)[:2] == ["X-Forwarded-For", 2]


@pytest.mark.parametrize("count", ["0", "-1"])
def test_a_trusted_proxy_count_below_one_is_refused(tmp_path: Path, count: str) -> None:
    result = _read_security(tmp_path, PRESSRUN_TRUSTED_PROXY_COUNT=count)
    assert result.returncode != 0
    assert "PRESSRUN_TRUSTED_PROXY_COUNT must be at least 1." in result.stderr


READ_DATABASE = (
    "import json, pressrun.settings as s; d = s.DATABASES['default']; "
    "print(json.dumps([d['ENGINE'], d.get('DISABLE_SERVER_SIDE_CURSORS', False), "
    "d['CONN_MAX_AGE'], d.get('OPTIONS', {}).get('prepare_threshold', 'unset'), "
    "d.get('OPTIONS', {}).get('server_side_binding', 'unset')]))"
)
POSTGRES_URL = "postgres://pressrun@db.internal:6432/pressrun"


def _read_database(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PRESSRUN_")}
    clean["PRESSRUN_DATA_DIR"] = str(tmp_path)
    return subprocess.run(
        [sys.executable, "-c", READ_DATABASE],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("pooler", "server_side_cursors_disabled"),
    [("", False), ("session", False), ("transaction", True), (" Transaction ", True)],
)
def test_a_pooler_in_transaction_mode_turns_server_side_cursors_off(
    tmp_path: Path, pooler: str, server_side_cursors_disabled: bool
) -> None:
    result = _read_database(
        tmp_path, PRESSRUN_DATABASE_URL=POSTGRES_URL, PRESSRUN_DATABASE_POOLER=pooler
    )
    assert result.returncode == 0, result.stderr
    # Connections are kept as before. Behind a pooler in transaction mode prepared statements
    # stay off (Django's default for psycopg 3, not overridden); otherwise the server binds
    # the parameters and prepares a statement run five times.
    prepared = [5, True] if not server_side_cursors_disabled else ["unset", "unset"]
    assert json.loads(result.stdout) == [
        "pressrun.core.postgresql",
        server_side_cursors_disabled,
        600,
        *prepared,
    ]


def test_prepared_statements_can_be_turned_off(tmp_path: Path) -> None:
    result = _read_database(
        tmp_path,
        PRESSRUN_DATABASE_URL=POSTGRES_URL,
        PRESSRUN_DATABASE_PREPARED_STATEMENTS="0",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[3:] == ["unset", "unset"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"PRESSRUN_DATABASE_URL": POSTGRES_URL, "PRESSRUN_DATABASE_POOLER": "statement"},
            "PRESSRUN_DATABASE_POOLER must be 'transaction', 'session' or unset.",
        ),
        (
            {"PRESSRUN_DATABASE_POOLER": "transaction"},
            "PRESSRUN_DATABASE_POOLER needs PRESSRUN_DATABASE_URL.",
        ),
    ],
)
def test_a_pooler_setting_that_cannot_work_stops_the_start(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    result = _read_database(tmp_path, **env)
    assert result.returncode != 0
    assert message in result.stderr


READ_GROUP_COMMIT = (
    "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'pressrun.settings'; "
    "django.setup(); from django.conf import settings; print(settings.INTAKE_GROUP_COMMIT)"
)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "True"),  # SQLite: one write lock for everybody, so orders share transactions
        ({"PRESSRUN_DATABASE_URL": POSTGRES_URL}, "False"),  # row locks: left apart
        ({"PRESSRUN_INTAKE_GROUP_COMMIT": "0"}, "False"),
        ({"PRESSRUN_DATABASE_URL": POSTGRES_URL, "PRESSRUN_INTAKE_GROUP_COMMIT": "1"}, "True"),
    ],
)
def test_group_commit_is_on_for_sqlite_and_off_for_postgresql_unless_set(
    tmp_path: Path, env: dict[str, str], expected: str
) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PRESSRUN_")}
    result = subprocess.run(
        [sys.executable, "-c", READ_GROUP_COMMIT],
        env={**clean, "PRESSRUN_DATA_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


READ_WRITER_WAIT = (
    "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'pressrun.settings'; "
    "django.setup(); from django.conf import settings; print(settings.SQLITE_WRITER_WAIT_MS)"
)


@pytest.mark.parametrize(
    ("value", "expected"), [("", "1"), ("0", "0"), ("50", "50"), ("51", None), ("-1", None)]
)
def test_the_writers_wait_is_whole_milliseconds_up_to_fifty(
    tmp_path: Path, value: str, expected: str | None
) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PRESSRUN_")}
    result = subprocess.run(
        [sys.executable, "-c", READ_WRITER_WAIT],
        env={**clean, "PRESSRUN_DATA_DIR": str(tmp_path), "PRESSRUN_SQLITE_WRITER_WAIT_MS": value},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if expected is None:
        assert result.returncode != 0
        assert "PRESSRUN_SQLITE_WRITER_WAIT_MS must be 0 to 50 (milliseconds)." in result.stderr
    else:
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == expected
