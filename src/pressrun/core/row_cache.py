"""Rows kept per process with the values read, for a write that requires them unchanged.

A row that nearly every request reads and hardly anyone changes (a product, a shipping rate)
costs a round trip to PostgreSQL each time it is read: about a tenth of an order's CPU, in
the driver and the server (docs/performance.md, "eighth round"); on SQLite, a statement and
the row's conversion, about as much ("tenth round"). `CachedRows` keeps such
rows in this process, each as it was read (`RowAsRead`: every column's value), and answers
later reads from memory. Nothing is trusted on that: the write computed from the rows
requires each one unchanged, in its own statement (`JoinedInsert`'s `unchanged`,
`rows_unchanged_require`), and fails without writing anything when one has changed or gone
(`RowsChanged`). The caller then forgets the rows (`forget`) and computes again from the
rows as they are now. So a change made anywhere (another process, another machine, an
operator's SQL) is never written over: at worst a process learns of it by one failed
statement.

Only what was found is kept: a read that finds no row asks the database every time.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Collection, Iterable
from typing import Any

from django.db.models import Model
from django.db.models.base import ModelState

from pressrun.core.prepared import PreparedRowRead, RowAsRead, row_as_read


class CachedRows:
    """Rows read through `read`, by the values of its keys, each with what was read.

    `get` answers each request with its own copy of the instance, so that a request that
    sets an attribute (a related object, cached by the ORM) changes no other request's.
    At most `size` rows are kept: past it, the oldest goes.
    """

    def __init__(
        self, read: PreparedRowRead, *, size: int = 1024, ignored: Collection[str] = ()
    ) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self.read = read
        self.size = size
        # Fields left out of what is required unchanged (`row_as_read`): their kept values
        # may be stale, so nothing may rest on them but a guess the write checks itself.
        self.ignored = frozenset(ignored)
        self._rows: dict[tuple[Any, ...], tuple[Any, RowAsRead]] = {}
        # Each kept row's key, by what was read of it: `forget` finds a row without a scan
        # (it may run inside SQLite's write transaction).
        self._keys: dict[RowAsRead, tuple[Any, ...]] = {}
        self._lock = threading.Lock()
        _every.add(self)

    def get(self, *key: Any, using: str = "default") -> tuple[Any, RowAsRead] | None:
        """The row whose keys equal `key` and what was read of it, from memory when it was
        read before, else read now (and kept); None when there is none."""
        found = self._rows.get(key) if using == "default" else None
        if found is None:
            instance = self.read.get(*key, using=using)
            if instance is None:
                return None
            found = (instance, row_as_read(instance, using=using, ignored=self.ignored))
            if using == "default":
                with self._lock:
                    while len(self._rows) >= self.size:
                        _, oldest = self._rows.pop(next(iter(self._rows)))
                        del self._keys[oldest]
                    replaced = self._rows.get(key)
                    if replaced is not None:
                        del self._keys[replaced[1]]
                    self._rows[key] = found
                    self._keys[found[1]] = key
        instance, seen = found
        return _copied(instance), seen

    def forget(self, rows: Iterable[RowAsRead]) -> None:
        """Drop these rows, as `get` gave them (they have changed, or may have)."""
        with self._lock:
            for seen in rows:  # each equal only to itself
                key = self._keys.pop(seen, None)
                if key is not None:
                    del self._rows[key]

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()
            self._keys.clear()


def _copied(instance: Model) -> Model:
    """A copy of a kept instance, as `copy.copy` makes it (its own `_state`) for a fifth of
    the cost: a kept instance never holds related objects, so its state has nothing else."""
    clone = Model.__new__(type(instance))
    clone.__dict__.update(instance.__dict__)
    state = ModelState()
    state.db, state.adding = instance._state.db, instance._state.adding
    clone._state = state
    return clone


_every: weakref.WeakSet[CachedRows] = weakref.WeakSet()


def cached_rows_forget(rows: Iterable[RowAsRead]) -> None:
    """Drop these rows, as some `get` gave them, from whichever `CachedRows` keeps them (a
    statement that required them found one changed, and which one it does not say)."""
    stale = list(rows)
    if stale:
        for cached in list(_every):
            cached.forget(stale)


def cached_rows_clear() -> None:
    """Forget every row kept in this process (a database emptied or restored under it: the
    rows would still be checked, this only spares the failed statements)."""
    for cached in list(_every):
        cached.clear()
