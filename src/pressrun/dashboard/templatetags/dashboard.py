"""Template helpers for the dashboard: the navigation bar, money and country names."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template
from django.urls import reverse

from pressrun.core.money import format_money
from pressrun.dashboard.nav import NAV
from pressrun.fulfillment.selectors import effective_state
from pressrun.fulfillment.states import state_label
from pressrun.orders.address import country_name
from pressrun.orders.models import Order

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


@register.filter
def physical_state(order: Order) -> str:
    """Where a paid order physically is, in words ("Ready to make"), with the postage-window
    rule applied (a waiting order whose window is over is ready); "" for HOLD and test
    orders."""
    state = effective_state(order)
    return state_label(state) if state else ""


@register.filter
def state_name(state: str) -> str:
    """A fulfillment state's name ("In production"); "" for none."""
    return state_label(state) if state else ""


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
