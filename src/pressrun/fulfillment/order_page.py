"""The operator's order page (`/operator/floor/orders/<id>`) is shared by every part of the
floor and shipping: each adds its own section of actions, without editing the page.

A section is a template included in the page's actions area and a function that gives its
context for one order (None hides the section for that order). Register from an app's
`ready()`:

    register_order_page_section(
        key="shipping", order=30, template="warehouses/order_actions.html",
        context=lambda request, order: {"order": order, ...} or None,
    )

Sections are shown by `order`, lowest first; registering a key again replaces it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest

from pressrun.orders.models import Order

SectionContext = Callable[[HttpRequest, Order], dict[str, Any] | None]


@dataclass(frozen=True)
class OrderPageSection:
    key: str
    order: int
    template: str
    context: SectionContext


_SECTIONS: dict[str, OrderPageSection] = {}


def register_order_page_section(
    *, key: str, order: int, template: str, context: SectionContext
) -> None:
    _SECTIONS[key] = OrderPageSection(key=key, order=order, template=template, context=context)


def order_page_sections(request: HttpRequest, order: Order) -> list[dict[str, Any]]:
    """The sections to show for `order`: [{"key", "template", "context"}], in order."""
    shown = []
    for section in sorted(_SECTIONS.values(), key=lambda s: (s.order, s.key)):
        context = section.context(request, order)
        if context is not None:
            shown.append({"key": section.key, "template": section.template, "context": context})
    return shown
