"""The import arrows point down: `pressrun.core` is the bottom layer and imports no app.

Apps plug into core instead (domain events, the registries of periodic tasks and
housekeeping in `core.tasks`, filled in each app's `AppConfig.ready()`). Every import counts,
those inside functions included: a lazy import is still an arrow. The orders app's own rule
(no upper layer) is in tests/notifications/test_order_change_emails.py.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pressrun

SRC = Path(pressrun.__file__).parent
APPS = sorted(
    path.name
    for path in SRC.iterdir()
    if path.is_dir() and (path / "apps.py").exists() and path.name != "core"
)


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def app_imports_of_core() -> dict[str, list[str]]:
    offending = {}
    for path in sorted((SRC / "core").rglob("*.py")):
        name = str(path.relative_to(SRC / "core"))
        if "migrations" in path.parts:
            continue
        bad = sorted(
            module
            for module in imported_modules(path)
            if any(
                module == f"pressrun.{app}" or module.startswith(f"pressrun.{app}.") for app in APPS
            )
        )
        if bad:
            offending[name] = bad
    return offending


def test_the_apps_are_found() -> None:
    assert {"accounts", "billing", "carts", "notifications", "orders"} <= set(APPS)


def test_core_imports_no_app() -> None:
    assert app_imports_of_core() == {}
