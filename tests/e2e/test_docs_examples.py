"""The examples in docs/gateway.md run against the real server and do what they say."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.live import LiveService

pytestmark = pytest.mark.e2e
DOC = Path(__file__).resolve().parents[2] / "docs" / "gateway.md"


def _block(language: str, heading: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index(heading) :]
    match = re.search(rf"```{language}\n(.*?)```", section, re.S)
    assert match, f"no {language} block under {heading}"
    return match.group(1)


def _for_live(code: str, service: LiveService, invoice: str, example_invoice: str) -> str:
    return (
        code.replace("http://127.0.0.1:8000", service.base_url.rstrip("/"))
        .replace("demo@pressrun.localhost", service.email)
        .replace("demo-password", service.password)
        .replace(example_invoice, invoice)
    )


def test_python_example(live_service: LiveService) -> None:
    invoice = live_service.unique("DOC-PY")
    code = _for_live(_block("python", "### Python"), live_service, invoice, "INV-2001")
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert re.fullmatch(r"placed: Order: \d+", lines[0]), result.stdout
    assert lines[1] == f"{invoice} ERROR "  # a test-mode order: ERROR / 20, no tracking


def test_curl_example(live_service: LiveService) -> None:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    invoice = live_service.unique("DOC-SH")
    script = _for_live(_block("sh", "### curl"), live_service, invoice, "INV-1001")
    result = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("[SUCCESS]\n"), result.stdout
    assert f"<Invoice>{invoice}</Invoice>" in result.stdout
    assert "<OrderStatusErrNum>20</OrderStatusErrNum>" in result.stdout
