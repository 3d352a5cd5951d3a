"""Skipping tests whose components are missing: loudly, and never under PRESSRUN_REQUIRE_ALL."""

from __future__ import annotations

import os

import pytest


def require(available: bool, what: str) -> None:
    """Skip the calling test when `what` is unavailable; fail instead under
    PRESSRUN_REQUIRE_ALL=1 (CI), where every component must be present."""
    if available:
        return
    message = f"SKIPPED LOUDLY: {what} is not available on this machine"
    if os.environ.get("PRESSRUN_REQUIRE_ALL") == "1":
        pytest.fail(f"{what} is required (PRESSRUN_REQUIRE_ALL=1) but not available")
    pytest.skip(message)
