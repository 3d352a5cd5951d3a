from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from pressrun.accounts.models import Publisher
from pressrun.carts.selectors import (
    oneshoppingcart_notify_url,
    samcart_notify_url,
    shopify_url_needs_token,
    shopify_webhook_url,
)


class Command(BaseCommand):
    help = (
        "Print the URLs a publisher pastes into their carts (Shopify, SamCart, "
        "1ShoppingCart), at the installation's public base URL."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--publisher", type=int, required=True, help="Publisher ID.")

    def handle(self, *args: Any, **options: Any) -> None:
        publisher = Publisher.objects.filter(id=options["publisher"]).first()
        if publisher is None:
            raise CommandError(f"No publisher has ID {options['publisher']}.")
        self.stdout.write(f"Shopify: {shopify_webhook_url(publisher)}")
        self.stdout.write(f"Shopify (test mode): {shopify_webhook_url(publisher, test=True)}")
        self.stdout.write(f"SamCart: {samcart_notify_url(publisher)}")
        self.stdout.write(f"SamCart (test mode): {samcart_notify_url(publisher, test=True)}")
        self.stdout.write(f"1ShoppingCart: {oneshoppingcart_notify_url(publisher)}")
        trial = oneshoppingcart_notify_url(
            publisher, test=True, error_email=publisher.error_recipient
        )
        self.stdout.write(f"1ShoppingCart (test mode, errors emailed): {trial}")
        if shopify_url_needs_token(publisher):
            # Shopify's URL carries the token until the signing key is saved; then the
            # spec's URL, without it, works too.
            signed = shopify_webhook_url(publisher, with_token=False)
            self.stdout.write(f"Shopify (once its signing key is saved): {signed}")
