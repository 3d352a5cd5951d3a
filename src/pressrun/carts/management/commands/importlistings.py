"""`pressrun importlistings`: import a publisher warehouse's listings, then route the kept cart
lines that were waiting for them, as the dashboard's import does. It lives in `carts`
because routing does: `warehouses` (where the listings are) imports no cart code.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from pressrun.carts.services import unmatched_reprocess_for_warehouse
from pressrun.warehouses.listings import (
    ListingsInvalid,
    Preview,
    listings_import,
    listings_parse,
    listings_preview,
)
from pressrun.warehouses.management.csv_commands import fail_with_row_errors, read_csv_file
from pressrun.warehouses.models import WarehouseConnection


def preview_lines(preview: Preview) -> list[str]:
    """The preview as the command prints it: one line per change, then the totals."""
    lines = []
    for change in preview.added:
        lines.append(f"add     {change.channel_sku} -> {_components(change.after)}")
    for change in preview.changed:
        lines.append(
            f"change  {change.channel_sku}: {_components(change.before)} -> "
            f"{_components(change.after)}"
        )
    for change in preview.removed:
        lines.append(f"remove  {change.channel_sku} (was {_components(change.before)})")
    lines.append(
        f"{len(preview.added)} added, {len(preview.changed)} changed, "
        f"{len(preview.removed)} removed, {preview.unchanged} unchanged"
    )
    return lines


def _components(components: Any) -> str:
    return " + ".join(f"{c.quantity} x {c.warehouse_sku}" for c in components)


class Command(BaseCommand):
    help = (
        "Import a warehouse connection's listings from a CSV file with the header "
        "channel_sku,warehouse_sku,quantity (several rows with one channel SKU make a bundle; "
        "a blank quantity is 1). The listings of every channel SKU the file names are replaced; "
        "with --replace-all, the others are removed. Prints what changes; on any error prints "
        "every error with its line number, imports nothing and exits with status 1."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--warehouse", type=int, required=True, help="The connection's id.")
        parser.add_argument("file", help="The CSV file (- reads standard input).")
        parser.add_argument(
            "--dry-run", action="store_true", help="Print what would change; change nothing."
        )
        parser.add_argument(
            "--replace-all",
            action="store_true",
            help="Remove the listings of the channel SKUs the file does not name.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        connection = (
            WarehouseConnection.objects.select_related("publisher")
            .filter(id=options["warehouse"])
            .first()
        )
        if connection is None:
            raise CommandError(f"There is no warehouse connection {options['warehouse']}.")
        if connection.publisher_id is None:
            raise CommandError(
                f"Connection {connection.id} is pressrun's own shipping station: listings "
                "belong to a publisher's warehouse."
            )
        data = read_csv_file(options["file"])
        if options["dry_run"]:
            parsed = listings_parse(data)
            if not parsed.ok:
                fail_with_row_errors(self, ListingsInvalid("", parsed.errors, parsed.more_errors))
            preview = listings_preview(
                connection_id=connection.id,
                listings=parsed.listings,
                replace_all=options["replace_all"],
            )
            for line in preview_lines(preview):
                self.stdout.write(line)
            self.stdout.write("Dry run: nothing was changed.")
            return
        try:
            preview = listings_import(
                connection_id=connection.id, data=data, replace_all=options["replace_all"]
            )
        except ListingsInvalid as exc:
            fail_with_row_errors(self, exc)
        for line in preview_lines(preview):
            self.stdout.write(line)
        # The listings are committed: the lines they name that no route took can go now.
        assert connection.publisher is not None
        routed = unmatched_reprocess_for_warehouse(
            publisher=connection.publisher, connection_id=connection.id
        )
        if routed:
            self.stdout.write(
                f"{routed} kept deliver{'y' if routed == 1 else 'ies'} waiting for these "
                f"listings {'was' if routed == 1 else 'were'} routed or queued to be processed "
                "again."
            )
