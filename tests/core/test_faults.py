"""The test-only fault-injection hook: a process dies (SIGKILL) at the point named in
PRESSRUN_FAULT_INJECTION, and nowhere else; without the variable nothing happens."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from pressrun.core.faults import (
    FAULT_INJECTION_VARIABLE,
    FaultInjectionMisconfigured,
    fault_point,
    injected_action,
)

PROGRAM = (
    "from pressrun.core.faults import fault_point\n"
    "print('before', flush=True)\n"
    "fault_point('email_queued_before_task')\n"
    "print('after', flush=True)\n"
)


def run(fault: str | None) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != FAULT_INJECTION_VARIABLE}
    if fault is not None:
        env[FAULT_INJECTION_VARIABLE] = fault
    return subprocess.run(
        [sys.executable, "-c", PROGRAM],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_named_point_kills_the_process_there() -> None:
    result = run("email_claimed_before_send:kill, email_queued_before_task:kill")
    assert (result.returncode, result.stdout) == (-signal.SIGKILL, "before\n")


@pytest.mark.parametrize("fault", [None, "", "email_claimed_before_send:kill"])
def test_any_other_point_or_no_variable_does_nothing(fault: str | None) -> None:
    result = run(fault)
    assert (result.returncode, result.stdout, result.stderr) == (0, "before\nafter\n", "")


def test_an_unknown_action_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FAULT_INJECTION_VARIABLE, "email_queued_before_task:explode")
    with pytest.raises(FaultInjectionMisconfigured, match="unknown action 'explode'"):
        fault_point("email_queued_before_task")
    assert injected_action("email_sent_before_marked") == ""


def test_this_process_is_not_configured_for_faults() -> None:
    assert FAULT_INJECTION_VARIABLE not in os.environ
    fault_point("email_queued_before_task")  # returns
