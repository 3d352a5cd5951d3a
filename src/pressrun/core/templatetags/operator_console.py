"""The operator bar (`{% operator_nav %}` in operator/base.html)."""

from __future__ import annotations

from typing import Any

from django import template

from pressrun.core.operator_pages import operator_nav_items

register = template.Library()


@register.inclusion_tag("operator/nav.html", takes_context=True)
def operator_nav(context: template.Context) -> dict[str, Any]:
    return {"items": operator_nav_items(context.get("section"))}
