"""Reading the CSV files operators and publishers upload to a warehouse connection (its
listings, its carrier codes): what every such file must be, checked in one place.

A file is UTF-8 (an optional byte-order mark), at most MAX_FILE_BYTES, without NUL; its
first non-blank line is the header, exactly the importer's columns; blank lines are
skipped; every data row has the header's number of cells, trimmed. Every error names the
file's physical line (the header being line 1; 0 for the file as a whole), and at most
MAX_ERRORS are listed, the rest counted. An importer reads the data rows (`csv_rows`),
checks each one's cells (`cell_error` for text cells) and reports into the same
`CsvReport`; the file is taken only when the report has no error.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from pressrun.core.text import is_one_line, one_line

# The largest file an import takes.
MAX_FILE_BYTES = 1024 * 1024
# At most this many errors are reported for one file (the rest are counted).
MAX_ERRORS = 100
# A spreadsheet runs a cell starting with one of these as a formula: refused, so that an
# exported file is safe to open and still imports back unchanged.
FORMULA_STARTS = ("=", "+", "-", "@")


@dataclass(frozen=True)
class RowError:
    """What is wrong with the file; `line` is 0 for the file as a whole."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"Line {self.line}: {self.message}" if self.line else self.message


@dataclass
class CsvReport:
    """What reading a file found wrong, and how many data rows it had (header not counted)."""

    errors: list[RowError] = field(default_factory=list)
    more_errors: int = 0
    rows: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors

    def error(self, line: int, message: str) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(RowError(line, message))
        else:
            self.more_errors += 1


def _file_text(data: bytes, error: Callable[[int, str], None]) -> str | None:
    """The text of an uploaded CSV file (UTF-8, an optional byte-order mark, at most
    MAX_FILE_BYTES, no NUL), or None after reporting to `error(line, message)` why it cannot
    be read."""
    if len(data) > MAX_FILE_BYTES:
        error(0, f"The file is larger than {MAX_FILE_BYTES:,} bytes (1 MB): split it in parts.")
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        error(
            line,
            f"the file is not UTF-8 text (byte {exc.start + 1} of the file): save it as CSV UTF-8.",
        )
        return None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        error(line, "the file contains a NUL character: it is not a CSV file.")
        return None
    return text


def csv_rows(
    data: bytes,
    report: CsvReport,
    *,
    columns: tuple[str, ...],
    max_rows: int,
    header_ignores_case: bool = False,
) -> Iterator[tuple[int, list[str]]]:
    """The data rows of the file `data`, each as its line and its cells trimmed, counted in
    `report.rows`. What is wrong with the file is reported to `report`: a row with another
    number of cells is reported and skipped; an unreadable file, a wrong header, more than
    `max_rows` rows, a CSV error or an empty file end the rows."""
    header = ",".join(columns)
    text = _file_text(data, report.error)
    if text is None:
        return
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header_seen = False
    try:
        while True:
            line = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                break
            cells = [cell.strip() for cell in row]
            if not any(cells):
                continue
            if not header_seen:
                header_seen = True
                found = [cell.lower() for cell in cells] if header_ignores_case else cells
                if tuple(found) != columns:
                    report.error(
                        line,
                        f"the header must be {header} (found: {one_line(','.join(cells))[:200]}).",
                    )
                    return
                continue
            report.rows += 1
            if report.rows > max_rows:
                report.error(line, f"the file has more than {max_rows:,} rows: split it in parts.")
                return
            if len(cells) != len(columns):
                report.error(
                    line,
                    f"expected {len(columns)} columns ({', '.join(columns)}), found {len(cells)}.",
                )
                continue
            yield line, cells
    except csv.Error as exc:
        report.error(reader.line_num, f"the CSV cannot be read here ({exc}).")
        return
    if not header_seen:
        report.error(0, f"The file is empty: its first line must be the header {header}.")


def cell_error(column: str, value: str, limit: int, *, required: bool) -> str | None:
    """What is wrong with a text cell (None when nothing): blank when `required`, longer than
    `limit`, more than one line, or read by a spreadsheet as a formula."""
    if not value:
        return f"{column} is blank." if required else None
    if len(value) > limit:
        return f"{column} is longer than {limit} characters."
    if not is_one_line(value):
        return f"{column} contains a line break or a control character."
    if value.startswith(FORMULA_STARTS):
        return (
            f"{column} {value!r} starts with {value[0]!r}, which a spreadsheet would run as "
            "a formula."
        )
    return None
