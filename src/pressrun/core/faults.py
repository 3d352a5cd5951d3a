"""Fault injection for crash tests (test-only): make a process die at a named point.

The crash guarantees (an email is queued with its send task or not at all, a send claimed by
a worker that dies is taken over once its heartbeat goes stale) are about what happens when
a process is killed between two steps. A test cannot time an outside `kill -9` to land
exactly there, so the code marks those places with `fault_point("<name>")`, and a test
starts a process with

    PRESSRUN_FAULT_INJECTION=<name>:kill[,<name>:kill...]

The process then sends itself SIGKILL when it reaches a named point: no cleanup, no
`finally`, no rollback of its own, exactly like a machine that loses power. Without the
variable (every real installation) `fault_point` returns at once; the variable is read
directly from the environment (no Django setting), and only acted on when set. See
docs/operations.md ("Fault injection (tests only)").

The points (grep for `fault_point(` to see them in place):

- `email_queued_before_task`: an email's row is written, its send task not yet.
- `email_claimed_before_send`: a worker has claimed an email (SENDING), nothing is sent yet.
- `email_sent_before_marked`: the mail server accepted an email, the row is not yet SENT.
- `webhook_queued_before_task`: a webhook's delivery row is written, its task not yet.
- `webhook_claimed_before_send`: a worker has claimed a webhook (SENDING), nothing is sent.
- `webhook_sent_before_recorded`: the endpoint answered, the attempt is not yet recorded.
- `postback_sent_before_recorded`: Shopify created the fulfillment of a post-back, the
  post-back is not yet recorded as sent.
- `sqlite_writer_before_commit`: the SQLite writer has written a group of orders, its
  transaction is not yet committed.
- `sqlite_writer_committed_before_answer`: the SQLite writer committed a group of orders,
  their web processes are not yet answered.
"""

from __future__ import annotations

import os
import signal

FAULT_INJECTION_VARIABLE = "PRESSRUN_FAULT_INJECTION"
ACTIONS = ("kill",)


class FaultInjectionMisconfigured(ValueError):
    """The variable names an action this module does not know (a typo in a test)."""


def injected_action(point: str) -> str:
    """The action the environment asks for at `point` ("" when none)."""
    spec = os.environ.get(FAULT_INJECTION_VARIABLE)
    if not spec:
        return ""
    for item in spec.split(","):
        name, _, action = item.strip().partition(":")
        if name == point:
            if action not in ACTIONS:
                raise FaultInjectionMisconfigured(
                    f"{FAULT_INJECTION_VARIABLE}: unknown action {action!r} for {point!r} "
                    f"(known: {', '.join(ACTIONS)})"
                )
            return action
    return ""


def fault_point(point: str) -> None:
    """Die here (SIGKILL, no cleanup) when PRESSRUN_FAULT_INJECTION names `point` with
    `kill`; otherwise do nothing."""
    if injected_action(point) == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
