"""Browser tests: Playwright drives Debian's Chromium against the real service.

The service is the end-to-end suite's `live_service` (`pressrun serve` + `pressrun worker` on
a fresh installation). Playwright never downloads a browser here: it launches
/usr/bin/chromium (`.ci/run` installs it). Without Chromium or the playwright package the
tests skip loudly, and fail under PRESSRUN_REQUIRE_ALL=1.

Screenshots: `screenshot(page, name)` writes docs/screenshots/<name>.png when
PRESSRUN_SCREENSHOTS=1 (they hold ids, dates and tokens that change on every run, so
writing them on every run would leave the working tree dirty).
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.live import Account, LiveService
from tests.support import require

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path(os.environ.get("PRESSRUN_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
TIMEOUT_MS = 15_000


def _require_browser() -> None:
    require(CHROMIUM.exists(), f"Chromium ({CHROMIUM}; apt-get install chromium)")
    require(
        importlib.util.find_spec("playwright") is not None,
        "the playwright Python package (pip install -e '.[dev]')",
    )


@pytest.fixture(scope="session")
def ui_service(request: pytest.FixtureRequest) -> LiveService:
    """The live service, started only once the browser is known to be there."""
    _require_browser()
    service: LiveService = request.getfixturevalue("live_service")
    return service


@pytest.fixture(scope="package")
def browser(ui_service: LiveService) -> Iterator[Browser]:
    # Package scope, not session: while Playwright's synchronous API is open its event loop
    # counts as running in this thread, and Django refuses database access from a thread
    # with a running loop (SynchronousOnlyOperation). Closed when the browser tests end, the
    # in-process tests that a parallel worker runs after them use the database as usual.
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (no cookies) and page at a desktop size."""
    context = browser.new_context(viewport=DESKTOP, locale="en-US", timezone_id="UTC")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []

    def on_console(message: Any) -> None:
        # A page answered with 4xx on purpose (a refused form) is logged as a failed load;
        # failed stylesheets and scripts are caught by on_response instead.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            errors.append(message.text)

    def on_response(response: Any) -> None:
        if response.request.resource_type != "document" and response.status >= 400:
            errors.append(f"{response.status} for {response.url}")

    # A Content Security Policy violation, a script error or a missing static file fails the
    # test that caused it.
    page.on("console", on_console)
    page.on("response", on_response)
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert errors == [], errors


def screenshot(page: Page, name: str) -> None:
    """docs/screenshots/<name>.png of the whole page, when PRESSRUN_SCREENSHOTS=1."""
    if os.environ.get("PRESSRUN_SCREENSHOTS") != "1":
        return
    assert re.fullmatch(r"[a-z0-9-]+", name), name
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True, animations="disabled")


def sign_in(page: Page, service: LiveService, account: Account) -> None:
    """Sign in through the form; ends on the home page."""
    page.goto(service.url("/sign-in"))
    page.get_by_label("Email").fill(account.email)
    page.get_by_label("Password").fill(account.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(service.url("/home"))


def text_of(page: Page, test_id: str) -> str:
    return " ".join(page.get_by_test_id(test_id).inner_text().split())


__all__ = ["Account", "screenshot", "sign_in", "text_of"]
