"""Template helpers for the floor's pages: money, country names, state names."""

from __future__ import annotations

from decimal import Decimal

from django import template

from pressrun.catalog.models import Project
from pressrun.core.money import format_money
from pressrun.fulfillment.floor import kind_label
from pressrun.fulfillment.states import state_label
from pressrun.orders.address import country_name

register = template.Library()


@register.filter
def floor_money(value: Decimal | None) -> str:
    return "" if value is None else format_money(Decimal(value))


@register.filter
def floor_country(code: str) -> str:
    return country_name(code)


@register.filter
def floor_state(state: str) -> str:
    return state_label(state) if state else ""


@register.filter
def floor_kind(project: Project) -> str:
    """'CD sleeve': the project's media and packaging as the floor names them."""
    return kind_label(project.media, project.packaging)
