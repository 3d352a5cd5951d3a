from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from pressrun.warehouses.carrier_codes import (
    CarrierCodesInvalid,
    CodesPreview,
    carrier_codes_import,
    carrier_codes_parse,
    carrier_codes_preview,
    invalid,
)
from pressrun.warehouses.management.csv_commands import fail_with_row_errors, read_csv_file
from pressrun.warehouses.models import WarehouseConnection


def preview_lines(preview: CodesPreview) -> list[str]:
    """The preview as the command prints it: one line per change, then the totals."""
    lines = []
    for change in preview.added:
        lines.append(
            f"add     {change.code} ({change.after.carrier}) {change.after.description}".rstrip()
        )
    for change in preview.changed:
        assert change.before is not None
        lines.append(
            f"change  {change.code}: ({change.before.carrier}) {change.before.description} -> "
            f"({change.after.carrier}) {change.after.description}".rstrip()
        )
    lines.append(
        f"{len(preview.added)} added, {len(preview.changed)} changed, {preview.unchanged} unchanged"
    )
    return lines


class Command(BaseCommand):
    help = (
        "Import a warehouse connection's carrier codes from a CSV file with the header "
        "Carrier,Code,Description (DropStream's format; one row per code). New codes are "
        "added, the codes the file names are updated, the others stay. Prints what changes; "
        "on any error prints every error with its line number, imports nothing and exits "
        "with status 1."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--warehouse", type=int, required=True, help="The connection's id.")
        parser.add_argument("file", help="The CSV file (- reads standard input).")
        parser.add_argument(
            "--dry-run", action="store_true", help="Print what would change; change nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        connection = WarehouseConnection.objects.filter(id=options["warehouse"]).first()
        if connection is None:
            raise CommandError(f"There is no warehouse connection {options['warehouse']}.")
        if connection.publisher_id is None:
            raise CommandError(
                f"Connection {connection.id} is pressrun's own shipping station: carrier "
                "codes belong to a publisher's warehouse."
            )
        data = read_csv_file(options["file"])
        if options["dry_run"]:
            parsed = carrier_codes_parse(data)
            if not parsed.ok:
                fail_with_row_errors(self, invalid(parsed))
            preview = carrier_codes_preview(connection_id=connection.id, codes=parsed.codes)
            for line in preview_lines(preview):
                self.stdout.write(line)
            self.stdout.write("Dry run: nothing was changed.")
            return
        try:
            preview = carrier_codes_import(connection_id=connection.id, data=data)
        except CarrierCodesInvalid as exc:
            fail_with_row_errors(self, exc)
        for line in preview_lines(preview):
            self.stdout.write(line)
