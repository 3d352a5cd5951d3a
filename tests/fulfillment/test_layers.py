"""Where fulfillment sits: above orders, billing and notifications, below the channels, the
customer page and the dashboard. Every import counts, those inside functions included."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

import pressrun
from tests.core.test_import_graph import imported_modules

SRC = Path(pressrun.__file__).parent
ABOVE = ("gateway", "carts", "customers", "dashboard", "demo")
BELOW = ("core", "accounts", "catalog", "orders", "billing", "notifications", "payments")


def imports_of(app: str, layers: tuple[str, ...]) -> dict[str, list[str]]:
    found = {}
    for path in sorted((SRC / app).rglob("*.py")):
        if "migrations" in path.parts:
            continue
        bad = sorted(
            module
            for module in imported_modules(path)
            if any(
                module == f"pressrun.{layer}" or module.startswith(f"pressrun.{layer}.")
                for layer in layers
            )
        )
        if bad:
            found[str(path.relative_to(SRC))] = bad
    return found


def test_fulfillment_imports_no_layer_above_it() -> None:
    assert imports_of("fulfillment", ABOVE) == {}


def test_no_layer_below_imports_fulfillment() -> None:
    for app in BELOW:
        assert imports_of(app, ("fulfillment",)) == {}, app


def test_installed_apps_list_the_layers_in_order() -> None:
    apps = [name.removeprefix("pressrun.") for name in settings.INSTALLED_APPS]
    position = {app: apps.index(app) for app in (*BELOW[1:], "fulfillment", *ABOVE)}
    assert all(position[app] < position["fulfillment"] for app in BELOW[1:])
    assert all(position["fulfillment"] < position[app] for app in ABOVE)
