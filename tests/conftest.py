"""Shared fixtures. Tests run against SQLite by default and PostgreSQL when
PRESSRUN_DATABASE_URL is set (scripts/run_tests.py runs the suite on both)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.live import (
    live_service,
    oneshoppingcart_api,
    remove_migrated_templates,
    stop_command_hosts,
)
from tests.support import require

os.environ.setdefault(
    "PRESSRUN_DATA_DIR", os.path.join(os.path.dirname(__file__), "..", "var", "test")
)
if os.environ.get("PYTEST_XDIST_WORKER"):
    # Parallel workers (`make test` runs each half with pytest-xdist) each get their own data
    # dir: nothing a test writes there (mail files, keys) is seen by a test in another worker.
    os.environ["PRESSRUN_DATA_DIR"] = os.path.join(
        os.environ["PRESSRUN_DATA_DIR"], os.environ["PYTEST_XDIST_WORKER"]
    )


def _flush_postgresql_by_delete() -> None:
    """Tests with `transaction=True` empty every table afterwards (Django's `flush`), which
    on PostgreSQL is one TRUNCATE of all of them: a new file for every table and index, about
    0.45 s a test on an idle machine and over a second on a busy one, for tables holding a
    few rows. DELETE empties them in milliseconds. Django's foreign keys on PostgreSQL are
    DEFERRABLE INITIALLY DEFERRED and the flush is one transaction, so the order of the
    tables does not matter; the sequences are not reset either way (TRUNCATE runs without
    RESTART IDENTITY unless asked, and then Django's own statement is used)."""
    from django.core.management.color import Style
    from django.db.backends.postgresql.operations import DatabaseOperations

    truncate = DatabaseOperations.sql_flush

    def sql_flush(
        self: DatabaseOperations,
        style: Style,
        tables: Sequence[str],
        *,
        reset_sequences: bool = False,
        allow_cascade: bool = False,
    ) -> list[str]:
        if reset_sequences or allow_cascade or not tables:
            return truncate(
                self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade
            )
        return ["SET CONSTRAINTS ALL DEFERRED;"] + [
            f"{style.SQL_KEYWORD('DELETE FROM')} {style.SQL_FIELD(self.quote_name(table))};"
            for table in tables
        ]

    DatabaseOperations.sql_flush = sql_flush  # type: ignore[method-assign]


_flush_postgresql_by_delete()


def _static_files_scanned_once() -> None:
    """Every Django test client builds its own middleware, and WhiteNoise's scans every static
    file of the installed apps when it is built (WHITENOISE_USE_FINDERS, settings.py): 168
    files, about 40 ms a client (tests/gateway/test_submit_rules.py took 40 s with a scan per
    test, 15 s with this). The files and what WhiteNoise makes of them do not change during
    a run, so the first scan's result is given to every later middleware built under the
    same settings (a test that changed a static or WhiteNoise setting gets a scan of its
    own). The servers of the end-to-end tests scan as in production: once a process."""
    from django.conf import settings
    from whitenoise.middleware import WhiteNoiseMiddleware

    scan = WhiteNoiseMiddleware.add_files_from_finders
    scanned: dict[str, dict[str, Any]] = {}
    names = (
        "DEBUG",
        "FORCE_SCRIPT_NAME",
        "INSTALLED_APPS",
        "STATIC_ROOT",
        "STATIC_URL",
        "STATICFILES_DIRS",
        "STATICFILES_FINDERS",
        "STORAGES",
    )

    def add_files_from_finders(self: WhiteNoiseMiddleware) -> None:
        key = repr(
            [self.static_prefix]
            + [getattr(settings, name, None) for name in names]
            + [(name, getattr(settings, name)) for name in dir(settings) if "WHITENOISE" in name]
        )
        found = scanned.get(key)
        if found is None:
            before = dict(self.files)
            scan(self)
            found = scanned[key] = {
                url: static_file
                for url, static_file in self.files.items()
                if before.get(url) is not static_file
            }
        self.files.update(found)

    WhiteNoiseMiddleware.add_files_from_finders = add_files_from_finders  # type: ignore[method-assign]


_static_files_scanned_once()


def pytest_sessionfinish(session: pytest.Session) -> None:
    # The migrated templates and command hosts of the end-to-end installations (tests/live.py)
    # live as long as the test process; nothing of them outlives the session.
    stop_command_hosts()
    remove_migrated_templates()


@pytest.fixture(autouse=True)
def _fast_hasher_and_clean_caches(settings: Any) -> Any:
    # A full PBKDF2 hash per account created would dominate the run; the credential cache
    # tests check the hashing behaviour itself, whatever the hasher.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    from django.core.cache import caches

    from pressrun.core.row_cache import cached_rows_clear

    for alias in ("default", "credentials"):
        caches[alias].clear()
    # Rows a test's process kept (intake's publishers, products and rates) are another
    # test's no longer: the database is emptied between tests.
    cached_rows_clear()
    return


PASSWORD = "correct horse battery"


def _ensure_default_shipping_rates() -> None:
    """Tests with `transaction=True` flush every table afterwards, the price list that the
    migration installs included; put it back for the tests that follow."""
    import importlib

    from django.apps import apps

    migration = importlib.import_module("pressrun.billing.migrations.0002_default_shipping_rates")
    migration.add_rates(apps, None)


@pytest.fixture
def make_publisher(db: None) -> Callable[..., Any]:
    from pressrun.accounts.services import publisher_create
    from pressrun.billing.services import ledger_credit

    counter = iter(range(1, 10_000))
    _ensure_default_shipping_rates()

    def make(
        *, email: str | None = None, balance: str = "0", password: str = PASSWORD, **kwargs: Any
    ) -> Any:
        publisher = publisher_create(
            email=email or f"publisher{next(counter)}@example.com", password=password, **kwargs
        )
        if Decimal(balance) > 0:
            ledger_credit(
                publisher_id=publisher.id, amount=Decimal(balance), description="t", actor="test"
            )
        publisher.refresh_from_db()
        return publisher

    return make


@pytest.fixture
def make_project(db: None) -> Callable[..., Any]:
    from pressrun.catalog.services import project_create

    def make(publisher: Any, **kwargs: Any) -> Any:
        values: dict[str, Any] = {
            "title": "Greatest Hits",
            "media": "cd",
            "packaging": "sleeve",
            "price": Decimal("4.50"),
        }
        if "packaging" in kwargs and "media" not in kwargs:
            # A packaging given alone gets a media that fits it (catalog.PACKAGING_FOR_MEDIA).
            values["media"] = {"dvd-case": "dvd", "usb-ecomailer": "usb"}.get(
                kwargs["packaging"], "cd"
            )
        if "media" in kwargs and "packaging" not in kwargs:
            # And a media given alone its first packaging.
            from pressrun.catalog.models import PACKAGING_FOR_MEDIA

            values["packaging"] = PACKAGING_FOR_MEDIA[kwargs["media"]][0]
        values.update(kwargs)
        return project_create(publisher=publisher, **values)

    return make


__all__ = ["PASSWORD", "live_service", "oneshoppingcart_api", "require"]


@pytest.fixture
def bench_run(monkeypatch: pytest.MonkeyPatch) -> Any:
    """bench/run.py as a module (its options those of a quick run), for the tests of the
    benchmark's own arithmetic."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent.parent / "bench"))
    monkeypatch.setattr(sys, "argv", ["bench/run.py", "--quick"])
    import run  # bench/run.py

    return run
