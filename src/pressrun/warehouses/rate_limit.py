"""The warehouse endpoints' rate limits: the ShipStation-compatible endpoint (views.py) and the
push protocol's confirmations and stock reports (push_views.py). The counting is
core.rate_limit's shared per-minute window; the budgets are the cart endpoints' two
(docs/operations.md, "Warehouse endpoint rate limits"):

- a verified sender (a request signed with the connection's secret, or carrying the
  connection's username and password) has `WAREHOUSE_REQUESTS_PER_MINUTE` requests per
  connection, all its endpoints together: everything it makes pressrun write counts here, so
  a leaked secret or password cannot write faster than that;
- a request whose sender does not check out (an unknown connection, a missing or wrong
  signature, missing or wrong credentials) writes nothing and counts against its client
  address: `WAREHOUSE_UNVERIFIED_PER_MINUTE`. A forger therefore never uses up a connection's
  own budget, and is answered 429 instead of being told, request after request, whether a
  signature or password was right.

Over a budget the endpoint answers 429 with Retry-After (the seconds left in the window) in
its own format, and writes nothing.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

from pressrun.core.client_address import client_address, throttle_address
from pressrun.core.rate_limit import RateLimited, rate_limit_take


def connection_scope(connection_id: int) -> str:
    return f"warehouse:connection:{connection_id}"


def unverified_scope(address: str) -> str:
    return f"warehouse:unverified:{address[:64]}"


def warehouse_requests_per_minute() -> int:
    return int(settings.WAREHOUSE_REQUESTS_PER_MINUTE)


def warehouse_unverified_per_minute() -> int:
    return int(settings.WAREHOUSE_UNVERIFIED_PER_MINUTE)


def connection_rate_take(connection_id: int) -> RateLimited | None:
    """Count a verified request of this connection; RateLimited when it is over the budget."""
    return rate_limit_take(
        scope=connection_scope(connection_id),
        limit=warehouse_requests_per_minute(),
        label="warehouse",
    )


def unverified_rate_take(request: HttpRequest) -> RateLimited | None:
    """Count a request whose sender did not check out against its client address (an IPv6
    client by its /64); RateLimited when the address is over the budget."""
    return rate_limit_take(
        scope=unverified_scope(throttle_address(client_address(request))),
        limit=warehouse_unverified_per_minute(),
        label="warehouse",
    )
