"""Template helpers for the dashboard: the navigation bar, money and country names."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template
from django.urls import reverse

from pressrun.core.money import format_money
from pressrun.dashboard.nav import NAV
from pressrun.orders.address import country_name

register = template.Library()


@register.filter
def money(value: Decimal | int | str | None) -> str:
    """'$1,234.50'; blank for no value."""
    if value is None or value == "":
        return ""
    return format_money(Decimal(value))


@register.filter
def country(code: str) -> str:
    """'United States' for 'US': people read country names, not ISO codes."""
    return country_name(code)


@register.inclusion_tag("dashboard/includes/nav.html", takes_context=True)
def dashboard_nav(context: template.Context) -> dict[str, Any]:
    """The navigation bar, with the current section marked for screen readers."""
    items = [
        {
            "label": item.label,
            "url": reverse(item.url_name),
            "current": item.section == context.get("section"),
        }
        for item in NAV
    ]
    return {"items": items, "csrf_token": context.get("csrf_token")}
