"""`pressrun gatewaydocs [--check]`: keep docs/gateway.md's error tables and status map equal
to the code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from pressrun.gateway.docs import BEGIN, END, STATUS_BEGIN, STATUS_END, replace_tables


class Command(BaseCommand):
    help = (
        "Regenerate the error-code tables and the status map in docs/gateway.md (or --check "
        "that they match)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--file", default="docs/gateway.md")
        parser.add_argument("--check", action="store_true", help="Fail if the file is stale.")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        try:
            document = path.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise CommandError(f"{path} does not exist (run from the project folder).") from exc
        for begin, end in ((BEGIN, END), (STATUS_BEGIN, STATUS_END)):
            if begin not in document or end not in document:
                raise CommandError(f"{path} lacks the markers {begin!r} and {end!r}.")
        updated = replace_tables(document)
        if options["check"]:
            if updated != document:
                raise CommandError(f"{path} is stale: run `pressrun gatewaydocs`.")
            self.stdout.write(f"{path} matches the error tables and the status map.")
            return
        path.write_text(updated, encoding="utf-8")
        self.stdout.write(f"Updated {path}.")
