from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from pressrun.accounts.models import (
    DEFAULT_ADDRESS_ERROR_REMINDER_DAYS,
    DEFAULT_POSTAGE_DELAY_HOURS,
    MAX_ADDRESS_ERROR_REMINDER_DAYS,
    MAX_POSTAGE_DELAY_HOURS,
    MailMethod,
)
from pressrun.accounts.services import PublisherInvalid, publisher_create


class Command(BaseCommand):
    help = "Create a publisher account and print its publisher ID."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", required=True, help="Login email.")
        parser.add_argument("--password", required=True, help="At least 8 characters.")
        parser.add_argument("--publisher-id", type=int, help="Use this publisher ID.")
        parser.add_argument("--company", default="", help="Company name.")
        parser.add_argument(
            "--mail-method",
            default=MailMethod.STANDARD,
            choices=MailMethod.values,
            help="Default order mail method.",
        )
        parser.add_argument(
            "--postage-delay-hours",
            type=int,
            default=DEFAULT_POSTAGE_DELAY_HOURS,
            metavar="N",
            help=f"Hours after an order is placed before it is made and postage printed; its "
            f"customer may correct the address until then. 0 to {MAX_POSTAGE_DELAY_HOURS}, "
            f"default {DEFAULT_POSTAGE_DELAY_HOURS}.",
        )

        parser.add_argument(
            "--address-error-reminder-days",
            type=int,
            default=DEFAULT_ADDRESS_ERROR_REMINDER_DAYS,
            metavar="N",
            help="Days an order may stay stopped for an address problem before the publisher "
            f"is emailed about it (once). 1 to {MAX_ADDRESS_ERROR_REMINDER_DAYS}, default "
            f"{DEFAULT_ADDRESS_ERROR_REMINDER_DAYS}.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            publisher = publisher_create(
                email=options["email"],
                password=options["password"],
                company=options["company"],
                publisher_id=options["publisher_id"],
                default_mail_method=options["mail_method"],
                postage_delay_hours=options["postage_delay_hours"],
                address_error_reminder_days=options["address_error_reminder_days"],
            )
        except PublisherInvalid as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(str(publisher.id))
