from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from pressrun.warehouses.services import (
    ConnectionInvalid,
    warehouse_create,
    warehouse_set_enabled,
)


class Command(BaseCommand):
    help = (
        "Create a shipping station's connection to the Custom Store endpoint "
        "(/warehouses/shipstation) and print `id=<n> username=<u> password=<p>` on one line. "
        "The password is shown only now. With --publisher: that publisher's own warehouse, "
        "which starts disabled until it is set up (the dashboard's Integrations → Warehouses "
        "enables it, or --enabled here, for a warehouse that is set up already)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True, help="What the operators call it.")
        parser.add_argument(
            "--after-packing",
            action="store_true",
            help="Export orders only once they are packed (default: every ready order).",
        )
        parser.add_argument(
            "--publisher",
            type=int,
            default=None,
            help="The publisher whose own warehouse this is (default: pressrun's own station).",
        )
        parser.add_argument(
            "--enabled",
            action="store_true",
            help="With --publisher: enable the warehouse at once (it starts disabled).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            created = warehouse_create(
                name=options["name"],
                after_packing=options["after_packing"],
                publisher_id=options["publisher"],
            )
        except ConnectionInvalid as exc:
            raise CommandError(exc.message) from exc
        connection = created.connection
        if options["enabled"] and not connection.enabled:
            connection = warehouse_set_enabled(connection_id=connection.id, enabled=True)
        self.stdout.write(
            f"id={connection.id} username={connection.username} password={created.password}"
        )
