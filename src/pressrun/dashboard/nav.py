"""The dashboard's navigation: one list, in the order the bar shows it.

To add a page: give its URL a name in `dashboard/urls.py`, render it with
`dashboard/page.html`-style templates extending `dashboard/base.html` with `section` set to
the item's `section`, and list it here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    section: str


NAV: tuple[NavItem, ...] = (
    NavItem("Home", "dashboard:home", "home"),
    NavItem("Projects", "dashboard:projects", "projects"),
    NavItem("Orders", "dashboard:orders", "orders"),
    NavItem("Integrations", "dashboard:integrations", "integrations"),
    NavItem("Billing", "dashboard:billing", "billing"),
    NavItem("Settings", "dashboard:settings", "settings"),
)
