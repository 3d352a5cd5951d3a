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
"""

from __future__ import annotations

import select

from django.db.backends.postgresql import base
from psycopg.pq import ConnStatus, TransactionStatus


class DatabaseWrapper(base.DatabaseWrapper):
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
