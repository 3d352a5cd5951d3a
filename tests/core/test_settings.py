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
