"""Orders for tests, placed through intake as the gateway places them: one request builder
instead of one per test folder. Each caller keeps its own defaults (quantity, invoice
numbering, recipient) and passes them here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from pressrun.orders.models import Order
from pressrun.orders.requests import LineRequest, OrderRequest, RecipientRequest
from pressrun.orders.services import order_place

# The recipient most tests ship to: a complete US address with an email (read-only: it is
# every caller's default).
ANN: Mapping[str, str] = MappingProxyType(
    {
        "name": "Ann Buyer",
        "address": "1 Main St",
        "city": "Austin",
        "state": "TX",
        "postal_code": "78701",
        "email": "ann@example.com",
    }
)
# The dashboard tests' recipient: no email, so no customer email is queued.
ADA: Mapping[str, str] = MappingProxyType(
    {
        "name": "Ada Customer",
        "address": "1 Main Street",
        "city": "Springfield",
        "state": "IL",
        "postal_code": "62701",
        "country": "US",
    }
)


def order_request(
    publisher: Any,
    lines: Iterable[tuple[Any, int]],
    *,
    recipient: Mapping[str, Any] | RecipientRequest = ANN,
    mode: str = "prod",
    source: str = "gateway",
    **fields: Any,
) -> OrderRequest:
    """A request for `lines` ((project, quantity), ...) shipped to `recipient` (ANN unless
    given: a RecipientRequest, or its fields); `fields` are OrderRequest's other fields
    (invoice, mail_method, external_ref, store, ...)."""
    if not isinstance(recipient, RecipientRequest):
        recipient = RecipientRequest(**recipient)
    return OrderRequest(
        publisher_id=publisher.id,
        lines=tuple(LineRequest(project_id=project.id, quantity=qty) for project, qty in lines),
        recipient=recipient,
        mode=mode,
        source=source,
        **fields,
    )


def place(publisher: Any, lines: Iterable[tuple[Any, int]], **options: Any) -> Order:
    """The order of `order_request(publisher, lines, **options)`, placed through intake."""
    return order_place(request=order_request(publisher, lines, **options), publisher=publisher)
