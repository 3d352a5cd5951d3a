"""`pressrun serve`: the production web server, with pressrun's settings.

granian (a Rust HTTP server) owns the sockets and the processes; in each process the
`pressrun.core.webfront` front reads every request completely, under deadlines and size
limits, before one of a few threads runs Django on it (docs/architecture.md, "Serving model").

At start it records the address it serves on (`Installation.served_address`): while no
operator has saved a public base URL, every URL pressrun prints or sends uses it, so
`pressrun carturls` in another shell prints the port this server really answers on.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, connections

from pressrun.core import webfront
from pressrun.core.metrics_dir import metrics_dir_prepare, metrics_dir_remove
from pressrun.core.selectors import public_base_url_reading
from pressrun.core.services import installation_record_served_address
from pressrun.core.sqlite.writer import WriterSupervisor, socket_path, writer_ready


def _load_application() -> webfront.WSGIApp:
    from pressrun.wsgi import application

    # What is alive once the application is loaded (Django, the apps, their modules) lives
    # as long as the process: moved out of the collector's generations, it is no longer
    # traversed by every full collection, which otherwise paused a request for tens of
    # milliseconds about once in 2,000 (docs/performance.md, the status call's third round).
    gc.freeze()
    return application


class Command(BaseCommand):
    help = (
        "Serve pressrun over HTTP (granian; several processes, a few threads each, which "
        "only ever run complete requests)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--processes",
            type=int,
            default=settings.WEB_PROCESSES,
            help="Server processes (default: PRESSRUN_WEB_PROCESSES, or 2 on SQLite and 2 "
            "per usable core, at most 16, on PostgreSQL).",
        )
        parser.add_argument(
            "--threads",
            type=int,
            default=settings.WEB_THREADS,
            help="Threads running Django in each process for the requests not run on its "
            "loop (PRESSRUN_WEB_LOOP_PATHS: the gateway's and the carts'); default: "
            "PRESSRUN_WEB_THREADS, or 1 on SQLite and 2 on PostgreSQL.",
        )
        parser.add_argument("--access-log", action="store_true", help="Log every request.")

    def handle(self, *args: Any, **options: Any) -> None:
        host, port = options["host"], options["port"]
        processes, threads = options["processes"], options["threads"]
        if not 1 <= port <= 65535:
            raise CommandError("--port must be from 1 to 65535.")
        if processes < 1 or threads < 1:
            raise CommandError("--processes and --threads must be at least 1.")
        if not 1 <= settings.WEB_HEADER_TIMEOUT_SECONDS <= 60:
            raise CommandError("PRESSRUN_WEB_HEADER_TIMEOUT_SECONDS must be from 1 to 60.")
        if settings.WEB_BODY_TIMEOUT_SECONDS < 1 or settings.WEB_MAX_BODY_BYTES < 1:
            raise CommandError(
                "PRESSRUN_WEB_BODY_TIMEOUT_SECONDS and PRESSRUN_WEB_MAX_BODY_BYTES must be at "
                "least 1."
            )

        self._record_address(host, port)
        # The request metrics of all the processes below (monitoring, docs/operations.md).
        metrics_dir = metrics_dir_prepare(settings.DATA_DIR)
        url_host = f"[{host}]" if ":" in host else host
        self.stdout.write(
            f"pressrun serving on http://{url_host}:{port}/ ({processes} processes, "
            f"{threads} threads each)"
        )
        self.stdout.flush()
        try:
            with self._writer():
                webfront.serve(
                    target="pressrun.wsgi:application",
                    load_application=_load_application,
                    host=host,
                    port=port,
                    processes=processes,
                    threads=threads,
                    loop_paths=settings.WEB_LOOP_PATHS,
                    header_timeout_seconds=settings.WEB_HEADER_TIMEOUT_SECONDS,
                    limits=webfront.FrontLimits(
                        body_timeout_seconds=settings.WEB_BODY_TIMEOUT_SECONDS,
                        max_body_bytes=settings.WEB_MAX_BODY_BYTES,
                    ),
                    access_log=options["access_log"],
                )
        finally:
            metrics_dir_remove(metrics_dir)

    @contextlib.contextmanager
    def _writer(self) -> Iterator[None]:
        """The SQLite writer process, for as long as the server runs, where it is on
        (PRESSRUN_SQLITE_WRITER): started before the web processes, so their first orders
        find it."""
        database = connections["default"]
        if not settings.SQLITE_WRITER or database.vendor != "sqlite":
            yield
            return
        path = socket_path(str(database.settings_dict["NAME"]))
        with WriterSupervisor(path):
            if writer_ready(path, timeout=20):
                self.stdout.write(f"SQLite writer listening at {path}")
            else:
                self.stderr.write(
                    "The SQLite writer did not start within 20 s: the web processes write "
                    "their own orders until it does."
                )
            self.stdout.flush()
            yield

    def _record_address(self, host: str, port: int) -> None:
        """Record where this server answers, and say which public base URL applies."""
        try:
            installation_record_served_address(host=host, port=port)
            reading = public_base_url_reading()
        except DatabaseError as exc:
            self.stderr.write(
                f"Could not record the address this server answers on ({exc}); run "
                "`pressrun migrate` first. Printed URLs keep their previous address."
            )
        else:
            self.stdout.write(f"Public base URL: {reading.url} ({reading.origin_label})")
        finally:
            # The server's processes are started from this one: none may inherit its
            # database connection.
            connections.close_all()
