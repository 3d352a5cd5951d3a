"""What the CSV import commands (`importlistings`, `importcarriercodes`) share: reading the
file (or standard input) up to the size limit, and printing a refused file's row errors."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn, Protocol

from django.core.management.base import BaseCommand, CommandError

from pressrun.warehouses.csv_files import MAX_FILE_BYTES


class RowErrors(Protocol):
    """A refused file: its row errors (each printed on a line) and how many more there were."""

    @property
    def errors(self) -> Sequence[object]: ...

    @property
    def more_errors(self) -> int: ...


def read_csv_file(name: str) -> bytes:
    """The file `name` (`-`: standard input), one byte past the limit at most, so the parser
    can say the file is too large."""
    try:
        if name == "-":
            return sys.stdin.buffer.read(MAX_FILE_BYTES + 1)
        with Path(name).open("rb") as handle:
            return handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise CommandError(f"Cannot read {name}: {exc.strerror}.") from exc


def fail_with_row_errors(command: BaseCommand, refused: RowErrors) -> NoReturn:
    """Print every row error on standard error, then end the command with status 1."""
    for error in refused.errors:
        command.stderr.write(str(error))
    if refused.more_errors:
        command.stderr.write(f"… and {refused.more_errors} more error(s).")
    raise CommandError(
        f"{len(refused.errors) + refused.more_errors} error(s): nothing was imported."
    )
