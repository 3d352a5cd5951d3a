from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from pressrun.accounts.models import Publisher
from pressrun.catalog.models import Media, Packaging
from pressrun.catalog.services import ProjectIdsShared, ProjectInvalid, project_create


class Command(BaseCommand):
    help = "Create a project for a publisher and print its project ID."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--publisher", type=int, required=True, help="Publisher ID.")
        parser.add_argument("--title", required=True)
        parser.add_argument("--media", required=True, choices=Media.values)
        parser.add_argument("--packaging", required=True, choices=Packaging.values)
        parser.add_argument("--price", required=True, help="Price per unit, e.g. 4.95.")
        parser.add_argument("--project-id", type=int, help="Use this project ID.")
        parser.add_argument(
            "--ecommerce-ids", default="", help="eCommerce ID String, e.g. '<5000-A> <6000-B>'."
        )
        parser.add_argument(
            "--confirm-shared-ids",
            action="store_true",
            help="Save the eCommerce ID String even though it uses IDs that other projects "
            "of the publisher answer to (listed there, or their project ID), e.g. a bonus disc.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        publisher = Publisher.objects.filter(id=options["publisher"]).first()
        if publisher is None:
            raise CommandError(f"No publisher has ID {options['publisher']}.")
        try:
            project = project_create(
                publisher=publisher,
                title=options["title"],
                media=options["media"],
                packaging=options["packaging"],
                price=options["price"],
                project_id=options["project_id"],
                ecommerce_ids=options["ecommerce_ids"],
                confirm_shared_ids=options["confirm_shared_ids"],
            )
        except ProjectIdsShared as exc:
            raise CommandError(
                exc.summary + " Nothing was created. Run it again with --confirm-shared-ids "
                "to save it anyway (a bonus disc ordered by the same SKU is fine)."
            ) from exc
        except ProjectInvalid as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(str(project.id))
