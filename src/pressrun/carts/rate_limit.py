"""The cart endpoints' rate limits: what each request counts against, and the budgets. The
counting is core.rate_limit's shared per-minute window.

Two budgets (docs/operations.md, "Cart endpoint rate limits"):

- a verified sender (the right token, a valid signature, or for 1ShoppingCart's tokenless
  URL the publisher ID) has `CART_DELIVERIES_PER_MINUTE` requests per cart and publisher:
  everything stored counts here, so a leaked token cannot fill the disk faster than that;
- a request whose sender does not check out (unknown publisher, wrong token, bad signature)
  is stored nowhere, and counts against its client address: `CART_UNVERIFIED_PER_MINUTE`.
  A forger therefore never uses up a publisher's own budget.

Over a budget the request is answered 429 with Retry-After (the seconds left in the window)
and nothing is stored. The carts retry such a delivery later, as they retry any non-2xx.
"""

from __future__ import annotations

from django.conf import settings

from pressrun.core.rate_limit import RateLimited, rate_limit_take


def publisher_scope(cart: str, publisher_id: int) -> str:
    return f"{cart}:publisher:{publisher_id}"


def unverified_scope(client_address: str) -> str:
    return f"unverified:{client_address[:64]}"


def cart_rate_take(*, scope: str, limit: int) -> RateLimited | None:
    """Count one cart request against `scope` (core.rate_limit.rate_limit_take)."""
    return rate_limit_take(scope=scope, limit=limit, label="cart")


def cart_deliveries_per_minute() -> int:
    return int(settings.CART_DELIVERIES_PER_MINUTE)


def cart_unverified_per_minute() -> int:
    return int(settings.CART_UNVERIFIED_PER_MINUTE)
