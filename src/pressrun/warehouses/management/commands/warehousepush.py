from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from pressrun.warehouses.models import WarehouseConnection
from pressrun.warehouses.push import (
    PushSettingsInvalid,
    warehouse_push_configure,
    warehouse_push_secret_rotate,
)


class Command(BaseCommand):
    help = (
        "Set a publisher's warehouse to receive its orders by push (docs/warehouses.md, "
        '"A WMS with an API"): --url is where each order is POSTed (an empty --url: the '
        "warehouse pulls again). Prints `id=<n> url=<u>` and, when one was made (the first "
        "URL, or --new-secret), `secret=<s>`: the signing secret, shown only now."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--warehouse", type=int, required=True, help="The connection's id.")
        parser.add_argument("--url", default=None, help="The push URL (https).")
        parser.add_argument(
            "--new-secret",
            action="store_true",
            help="Replace the signing secret (the old one stops working at once).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        connection_id = options["warehouse"]
        if options["url"] is None and not options["new_secret"]:
            raise CommandError("Give --url, --new-secret or both.")
        secret = ""
        try:
            if options["url"] is not None:
                connection, secret = warehouse_push_configure(
                    connection_id=connection_id, url=options["url"]
                )
            if options["new_secret"]:
                secret = warehouse_push_secret_rotate(connection_id=connection_id)
            connection = WarehouseConnection.objects.get(id=connection_id)
        except WarehouseConnection.DoesNotExist:
            raise CommandError(f"There is no warehouse {connection_id}.") from None
        except PushSettingsInvalid as exc:
            raise CommandError(exc.message) from exc
        line = f"id={connection.id} url={connection.push_url}"
        if secret:
            line += f" secret={secret}"
        self.stdout.write(line)
