"""The shared cache of a several-machine installation: Django's Redis cache, failing soft.

With PRESSRUN_REDIS_URL set, the caches live in Redis (settings.py, docs/deploy.md). What
pressrun keeps there only saves work: a credential cache entry is honoured only after it is
checked against the publisher's (or warehouse connection's) current password hash in the
database. So a Redis that is down, restarting or unreachable must cost password hashes, not
orders: here a read that fails is a miss, a write or delete that fails is skipped, and the
request goes on as it would with an empty cache. A stale entry whose delete was skipped is
harmless for the same reason (its hash no longer matches).

After a failure this process leaves Redis alone for `RETRY_AFTER_SECONDS`, so that an
unreachable server (whose connect timeout is `CONNECT_TIMEOUT_SECONDS`) slows down one
request in that time, not every one; each failure is logged once.

`incr` and `clear` still raise: pressrun calls neither on a request's path, and neither has
an answer that could stand in for the real one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient

logger = logging.getLogger(__name__)

# Redis answers in well under a millisecond on a LAN; these only bound a sick one.
CONNECT_TIMEOUT_SECONDS = 0.5
SOCKET_TIMEOUT_SECONDS = 0.5
RETRY_AFTER_SECONDS = 5.0

_lock = threading.Lock()
# Per Redis location (the URL), until when (time.monotonic()) this process leaves it alone.
_unavailable_until: dict[str, float] = {}


class FailSoftRedisCacheClient(RedisCacheClient):
    """Django's Redis client, with every operation a cache may skip made to fail soft."""

    def __init__(self, servers: list[str], **options: Any) -> None:
        options.setdefault("socket_connect_timeout", CONNECT_TIMEOUT_SECONDS)
        options.setdefault("socket_timeout", SOCKET_TIMEOUT_SECONDS)
        super().__init__(servers, **options)
        self._location = ",".join(servers)

    def _soft(self, fallback: Any, method: Callable[..., Any], *args: Any) -> Any:
        """`method(self, *args)` (one of the parent's), or `fallback` when Redis fails."""
        import redis

        with _lock:
            if _unavailable_until.get(self._location, 0.0) > time.monotonic():
                return fallback
        try:
            return method(self, *args)
        except redis.RedisError as exc:
            with _lock:
                _unavailable_until[self._location] = time.monotonic() + RETRY_AFTER_SECONDS
            logger.warning(
                "Redis cache unavailable (%s); going on without it for %.0f s",
                exc.__class__.__name__,
                RETRY_AFTER_SECONDS,
            )
            return fallback

    # The operations a cache may skip, each with the answer of an empty cache.
    def add(self, key: Any, value: Any, timeout: Any) -> Any:
        return self._soft(False, RedisCacheClient.add, key, value, timeout)

    def get(self, key: Any, default: Any) -> Any:
        return self._soft(default, RedisCacheClient.get, key, default)

    def set(self, key: Any, value: Any, timeout: Any) -> Any:
        return self._soft(None, RedisCacheClient.set, key, value, timeout)

    def touch(self, key: Any, timeout: Any) -> Any:
        return self._soft(False, RedisCacheClient.touch, key, timeout)

    def delete(self, key: Any) -> Any:
        return self._soft(False, RedisCacheClient.delete, key)

    def get_many(self, keys: Any) -> Any:
        return self._soft({}, RedisCacheClient.get_many, keys)

    def has_key(self, key: Any) -> Any:
        return self._soft(False, RedisCacheClient.has_key, key)

    def set_many(self, data: Any, timeout: Any) -> Any:
        return self._soft(None, RedisCacheClient.set_many, data, timeout)

    def delete_many(self, keys: Any) -> Any:
        return self._soft(None, RedisCacheClient.delete_many, keys)


class FailSoftRedisCache(RedisCache):
    """`django.core.cache.backends.redis.RedisCache` that goes on without Redis when Redis
    fails (see the module docstring)."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = FailSoftRedisCacheClient
