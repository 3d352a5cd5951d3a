"""`pressrun sqlitewriter`: the SQLite writer process (core/sqlite/writer.py) in the
foreground. `pressrun serve` starts it itself when PRESSRUN_SQLITE_WRITER is on; this is for
running it under a supervisor of one's own, and for the benchmark."""

from __future__ import annotations

import logging
from typing import Any, cast

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from pressrun.core.sqlite.writer import socket_path, writer_serve


class Command(BaseCommand):
    help = (
        "Write the gateway's orders of every web process on SQLite, whatever arrives "
        "together in one transaction (PRESSRUN_SQLITE_WRITER); runs until stopped."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--parent",
            type=int,
            default=None,
            help="Stop when the process with this id is no longer this one's parent.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if connection.vendor != "sqlite" or cast(Any, connection).is_in_memory_db():
            raise CommandError("The SQLite writer needs a SQLite database file.")
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
        path = socket_path(str(connection.settings_dict["NAME"]))
        stats = writer_serve(path, parent=options["parent"])
        per_group = stats.programs / stats.groups if stats.groups else 0.0
        per_order = 1000 * stats.lock_seconds / stats.programs if stats.programs else 0.0
        # bench/run.py reads this line.
        self.stdout.write(
            f"SQLite writer stopped: {stats.programs} orders in {stats.groups} transactions "
            f"({per_group:.2f} a transaction), write lock held {stats.lock_seconds:.3f} s "
            f"({per_order:.3f} ms an order)"
        )
