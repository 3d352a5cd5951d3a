from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from pressrun.accounts.models import Publisher
from pressrun.billing.services import CreditInvalid, ledger_credit
from pressrun.core.money import MoneyFormatError, format_money, parse_money


class Command(BaseCommand):
    help = "Record a payment and release the HOLD orders the new balance covers, oldest first."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--publisher", type=int, required=True, help="Publisher ID.")
        parser.add_argument("--amount", required=True, help="Dollars, e.g. 100.00.")
        parser.add_argument("--description", default="Payment")

    def handle(self, *args: Any, **options: Any) -> None:
        if not Publisher.objects.filter(id=options["publisher"]).exists():
            raise CommandError(f"No publisher has ID {options['publisher']}.")
        try:
            amount = parse_money(options["amount"])
        except MoneyFormatError as exc:
            raise CommandError(f"--amount {exc}") from exc
        try:
            result = ledger_credit(
                publisher_id=options["publisher"],
                amount=amount,
                description=options["description"],
                actor="cli",
            )
        except CreditInvalid as exc:
            raise CommandError(exc.message) from exc
        released = ", ".join(str(order.id) for order in result.released) or "none"
        self.stdout.write(
            f"Credited {format_money(result.entry.amount)}; balance {format_money(result.balance)}."
            f" Released HOLD orders: {released}."
        )
