"""Template helpers for the dashboard: the navigation bar and money formatting."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template
from django.urls import NoReverseMatch, reverse

from pressrun.core.money import format_money
from pressrun.dashboard.nav import NAV

register = template.Library()


@register.filter
def money(value: Decimal | int | str | None) -> str:
    """'$1,234.50'; blank for no value."""
    if value is None or value == "":
        return ""
    return format_money(Decimal(value))


@register.inclusion_tag("dashboard/includes/nav.html", takes_context=True)
def dashboard_nav(context: template.Context) -> dict[str, Any]:
    """The navigation bar, with the current section marked for screen readers."""
    items = []
    for item in NAV:
        try:
            url = reverse(item.url_name)
        except NoReverseMatch:
            continue  # listed, not built yet
        items.append(
            {"label": item.label, "url": url, "current": item.section == context.get("section")}
        )
    return {"items": items, "csrf_token": context.get("csrf_token")}
