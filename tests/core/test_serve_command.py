"""`pressrun serve` refuses settings it cannot serve with, before it starts anything."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import CommandError, call_command

from pressrun.core import webfront


@pytest.fixture(autouse=True)
def _never_serve(monkeypatch: pytest.MonkeyPatch) -> None:
    def serve(**_: Any) -> None:
        pytest.fail("pressrun serve started a server despite bad settings")

    monkeypatch.setattr(webfront, "serve", serve)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "0"], "--port must be from 1 to 65535."),
        (["--port", "65536"], "--port must be from 1 to 65535."),
        (["--processes", "0"], "--processes and --threads must be at least 1."),
        (["--threads", "0"], "--processes and --threads must be at least 1."),
    ],
)
def test_bad_arguments_are_refused(args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=f"^{message}$"):
        call_command("serve", *args)


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        (
            "WEB_HEADER_TIMEOUT_SECONDS",
            0,
            "PRESSRUN_WEB_HEADER_TIMEOUT_SECONDS must be from 1 to 60.",
        ),
        (
            "WEB_HEADER_TIMEOUT_SECONDS",
            61,
            "PRESSRUN_WEB_HEADER_TIMEOUT_SECONDS must be from 1 to 60.",
        ),
        ("WEB_BODY_TIMEOUT_SECONDS", 0, "PRESSRUN_WEB_BODY_TIMEOUT_SECONDS and"),
        ("WEB_MAX_BODY_BYTES", 0, "PRESSRUN_WEB_BODY_TIMEOUT_SECONDS and"),
    ],
)
def test_bad_web_settings_are_refused(
    settings: Any, setting: str, value: int, message: str
) -> None:
    setattr(settings, setting, value)
    with pytest.raises(CommandError, match=f"^{message}"):
        call_command("serve")


def test_each_process_freezes_what_the_loaded_application_holds() -> None:
    """After loading the application a serving process moves the objects alive then out of
    the collector's generations (gc.freeze), so full collections no longer walk them."""
    import gc

    from pressrun.core.management.commands.serve import _load_application

    gc.unfreeze()
    try:
        assert gc.get_freeze_count() == 0
        application = _load_application()
        assert callable(application)
        assert gc.get_freeze_count() > 10_000  # Django and pressrun's modules at least
    finally:
        gc.unfreeze()
