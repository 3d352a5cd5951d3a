"""The shared cache (PRESSRUN_REDIS_URL): credentials verified in one process are found by
the others in Redis, and a Redis that is down or gone costs password hashes, never a
sign-in. Against a real redis-server (skipped loudly without one, required in CI)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.contrib.auth import hashers
from django.core.cache import caches

from pressrun.accounts.services import CredentialsInvalid, publisher_authenticate
from pressrun.core import cache as shared_cache
from tests import redis_server as redis
from tests.conftest import PASSWORD
from tests.live import _free_port
from tests.support import require

pytestmark = pytest.mark.django_db


def redis_caches(port: int) -> dict[str, Any]:
    """settings.CACHES as settings.py makes them for PRESSRUN_REDIS_URL."""
    default = {
        "BACKEND": "pressrun.core.cache.FailSoftRedisCache",
        "LOCATION": f"redis://127.0.0.1:{port}/0",
    }
    return {"default": default, "credentials": dict(default, KEY_PREFIX="credentials")}


@pytest.fixture(autouse=True)
def _redis_reachable_again() -> Iterator[None]:
    """No test inherits another's memory of a Redis that failed."""
    shared_cache._unavailable_until.clear()
    yield
    shared_cache._unavailable_until.clear()


def sign_ins(publisher: Any, times: int) -> int:
    """Sign in `times` times with the right password; returns how many password hashes
    were checked for it."""
    with mock.patch(
        "pressrun.accounts.services.check_password", wraps=hashers.check_password
    ) as check:
        for _ in range(times):
            found = publisher_authenticate(
                email=publisher.email, password=PASSWORD, client_address="10.0.0.1"
            )
            assert found.id == publisher.id
    return check.call_count


def test_the_settings_put_both_caches_in_redis_failing_soft(tmp_path: Path) -> None:
    """What settings.py makes of PRESSRUN_REDIS_URL is what these tests use."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PRESSRUN_")}
    read = "import json, pressrun.settings as s; print(json.dumps(s.CACHES))"
    output = subprocess.run(
        [sys.executable, "-c", read],
        env={
            **clean,
            "PRESSRUN_DATA_DIR": str(tmp_path),
            "PRESSRUN_REDIS_URL": "redis://127.0.0.1:6379/0",
        },
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert json.loads(output) == redis_caches(6379)


def test_verified_credentials_are_kept_in_redis(
    settings: Any, tmp_path: Path, make_publisher: Any
) -> None:
    require(redis.available(), "redis-server (the Debian package redis-server)")
    publisher = make_publisher()
    with redis.redis_server(tmp_path) as port:
        settings.CACHES = redis_caches(port)
        assert sign_ins(publisher, 3) == 1
        [key] = redis.redis_keys(port)
        assert key.startswith("credentials:1:cred:")
        # Another process (a fresh cache object on the same Redis) finds it: no hash.
        caches["credentials"].close()
        del caches["credentials"]
        assert sign_ins(publisher, 1) == 0


def test_a_redis_that_is_gone_costs_hashes_not_sign_ins(
    settings: Any, tmp_path: Path, make_publisher: Any, caplog: pytest.LogCaptureFixture
) -> None:
    require(redis.available(), "redis-server (the Debian package redis-server)")
    publisher = make_publisher()
    with redis.redis_server(tmp_path) as port:
        settings.CACHES = redis_caches(port)
        assert sign_ins(publisher, 2) == 1
    # Redis stopped: every sign-in is checked against the hash, and works; a wrong
    # password is still refused.
    with caplog.at_level(logging.WARNING, logger="pressrun.core.cache"):
        assert sign_ins(publisher, 3) == 3
        with pytest.raises(CredentialsInvalid):
            publisher_authenticate(
                email=publisher.email, password="not it", client_address="10.0.0.1"
            )
    assert "Redis cache unavailable (ConnectionError)" in caplog.text
    # Back on the same port, and the pause after the failure over: used again.
    with redis.redis_server(tmp_path, port=port):
        shared_cache._unavailable_until.clear()
        assert sign_ins(publisher, 3) == 1
        assert len(redis.redis_keys(port)) == 1


def test_a_redis_that_never_answered_is_an_empty_cache(settings: Any, make_publisher: Any) -> None:
    publisher = make_publisher()
    settings.CACHES = redis_caches(_free_port())  # nothing listens there
    assert sign_ins(publisher, 2) == 2
    credentials = caches["credentials"]
    credentials.set("some-key", "value")
    assert credentials.get("some-key", "missing") == "missing"
    assert credentials.get_many(["some-key"]) == {}
    assert credentials.add("other-key", "value") is False
    assert credentials.delete("some-key") is False
    assert credentials.has_key("some-key") is False
