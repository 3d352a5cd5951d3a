"""Django's PostgreSQL backend, with a health check that asks the server only when needed.

With `CONN_HEALTH_CHECKS` (on: connections are kept between requests) Django checks a kept
connection before the first statement of each request, and its PostgreSQL backend does that
with a `SELECT 1`: one more round trip on every request, a fourth of a gateway status
call's (docs/performance.md, "fourth round").

A connection the server (or PgBouncer) has ended — a restart, `pg_terminate_backend`, an idle
timeout — was ended by a message and the closing of the socket, so the socket of such a
connection is readable while pressrun is not waiting for an answer. Here a kept connection
that libpq still takes for good and whose socket has nothing to read is usable without a
statement: one `poll` with a zero timeout. Anything to read (an ending, a notice, anything
unexpected) falls back to Django's `SELECT 1`, which settles it. A server that vanished
without closing anything (a host down, a network cut) is noticed by neither check before a
statement waits on it; TCP keepalives and the statement timeout are for that.

It also reads `timestamp with time zone` values with the driver's own loader (C, with
psycopg's binary package) where Django would use its own: Django's subclasses psycopg's pure
Python loader only to set the value's time zone to the connection's, which for a connection
in UTC (Django's with USE_TZ and no TIME_ZONE of the database's) the driver's loader already
does. A status call of 100 orders loads 100 such values: about 3 µs of CPU less for each
(docs/performance.md, "eighth round").
"""

from __future__ import annotations

import datetime
import select
from typing import Any

import psycopg
from django.db.backends.postgresql import base
from psycopg.abc import AdaptContext
from psycopg.adapt import AdaptersMap, Loader
from psycopg.pq import ConnStatus, Format, TransactionStatus

_TIMESTAMPTZ = psycopg.adapters.types["timestamptz"].oid
_DRIVER_TIMESTAMPTZ_LOADER: Any = psycopg.adapters.get_loader(_TIMESTAMPTZ, Format.TEXT)


class UtcTimestamptzLoader(Loader):
    """The driver's own `timestamptz` loader where the connection's time zone is UTC, with
    the `timezone` attribute Django's loaders carry (Django's `create_cursor` compares it
    with the connection's, and registers its own loader on a cursor where they differ)."""

    timezone = datetime.UTC

    def __init__(self, oid: int, context: AdaptContext | None = None) -> None:
        super().__init__(oid, context)
        # The C loader cannot be subclassed; this one hands it each value.
        self._load = _DRIVER_TIMESTAMPTZ_LOADER(oid, context).load

    def load(self, data: Any) -> Any:
        return self._load(data)


class DatabaseWrapper(base.DatabaseWrapper):
    def get_connection_params(self) -> dict[str, Any]:
        params: dict[str, Any] = super().get_connection_params()
        context = params.get("context")
        if context is not None and self.timezone is datetime.UTC and self.timezone_name == "UTC":
            # Django's map is shared by every connection (a cached template): extended, not
            # changed.
            context = AdaptersMap(context)
            context.register_loader(_TIMESTAMPTZ, UtcTimestamptzLoader)
            params["context"] = context
        return params

    def is_usable(self) -> bool:
        if self.connection is None:
            return False
        info = self.connection.info
        if info.status != ConnStatus.OK or info.transaction_status != TransactionStatus.IDLE:
            return bool(super().is_usable())
        try:
            waiting = select.poll()
            waiting.register(self.connection.fileno(), select.POLLIN | select.POLLPRI)
            events = waiting.poll(0)
        except (OSError, ValueError):
            return False
        if events:
            return bool(super().is_usable())
        return True
