"""`pressrun demo`: demo data for a new installation, and how to try it.

The demo publisher has fixed, documented values (its publisher ID, cart URL token and
Shopify webhook signing key, like its password), so the sample requests in the cart guides
(docs/carts/*.md) work as written against a fresh `make run`. The operator login gets a
random password, printed once. A database that already has the demo publisher is not
changed (the command prints where to go); one with publishers of its own is refused.
"""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from pressrun.accounts.models import Publisher
from pressrun.accounts.services import publisher_create, publisher_set_cart_credentials
from pressrun.billing.services import ledger_credit
from pressrun.catalog.services import project_create
from pressrun.core.selectors import public_base_url

DEMO_EMAIL = "demo@pressrun.localhost"
DEMO_PASSWORD = "demo-password"  # noqa: S105 - a documented local demo account
DEMO_PUBLISHER_ID = 66870
# Documented demo values for the cart guides' sample requests, never for a real publisher.
DEMO_CART_TOKEN = "demo-cart-token-66870"  # noqa: S105 - documented demo value
DEMO_SHOPIFY_WEBHOOK_KEY = "demo-shopify-signing-key"
OPERATOR_USERNAME = "operator"
# What earlier versions gave the demo operator: replaced by a random password when found.
PUBLISHED_OPERATOR_PASSWORD = "operator-password"  # noqa: S105 - to find and replace it
# (project ID, title, media, packaging, price, eCommerce ID String). Project 66750 is
# ordered by SamCart product 279813 (the SamCart guide's sample) and, by Method 2, by the
# Shopify SKU 66750 (the Shopify guide's sample).
DEMO_PROJECTS = (
    (66750, "Greatest Hits (CD)", "cd", "sleeve", "4.50", "{279813}"),
    (66760, "Live in Concert (DVD)", "dvd", "dvd-case", "6.25", ""),
    (66770, "Complete Works (USB)", "usb", "usb-ecomailer", "9.00", ""),
)


def demo_create() -> str:
    """The demo publisher with its projects, $100 credit and cart values, and the operator
    login, in one transaction. Call only on a database without publishers. Returns the
    operator's new random password ("" when an operator login already existed)."""
    operator_password = ""
    with transaction.atomic():
        publisher = publisher_create(
            email=DEMO_EMAIL,
            password=DEMO_PASSWORD,
            company="Demo Records",
            publisher_id=DEMO_PUBLISHER_ID,
            cart_token=DEMO_CART_TOKEN,
        )
        publisher_set_cart_credentials(
            publisher=publisher, shopify_webhook_key=DEMO_SHOPIFY_WEBHOOK_KEY
        )
        for project_id, title, media, packaging, price, ecommerce_ids in DEMO_PROJECTS:
            project_create(
                publisher=publisher,
                project_id=project_id,
                title=title,
                media=media,
                packaging=packaging,
                price=Decimal(price),
                ecommerce_ids=ecommerce_ids,
            )
        ledger_credit(
            publisher_id=publisher.id,
            amount=Decimal("100.00"),
            description="Demo credit",
            actor="demo",
        )
        user_model = get_user_model()
        if not user_model.objects.filter(username=OPERATOR_USERNAME).exists():
            operator_password = secrets.token_urlsafe(12)
            user_model.objects.create_superuser(
                username=OPERATOR_USERNAME, email="", password=operator_password
            )
    return operator_password


class Command(BaseCommand):
    help = (
        "Create a demo publisher (ID 66870), projects and operator when the database has no "
        "publisher, then print how to try pressrun at the installation's public base URL."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        real = Publisher.objects.exclude(email=DEMO_EMAIL).count()
        if real:
            raise CommandError(
                f"Refused: this database already has {real} publisher(s) of its own; demo "
                "data is only added to a new installation. To serve it, run `pressrun serve` "
                "and `pressrun worker`."
            )
        operator_password = ""
        if not Publisher.objects.exists():
            operator_password = demo_create()
            self.stdout.write("Created the demo publisher, its projects and an operator login.")
        operator_password = operator_password or self._replace_published_password()
        base = public_base_url()
        demo = Publisher.objects.filter(email=DEMO_EMAIL).first()
        if demo is None:
            self.stdout.write(f"Operators: {base}/admin/")
            return
        self.stdout.write(
            f"""
pressrun is ready.

  Publisher dashboard: {base}/   (sign in as {DEMO_EMAIL} / {DEMO_PASSWORD})
  Operator console:    {base}/admin/   {self._operator_login(operator_password)}
  Demo publisher:      ID {demo.id}, projects 66750 CD sleeve, 66760 DVD case,
                       66770 USB ecomailer, $100 credit
  Demo cart values:    cart URL token {DEMO_CART_TOKEN}, Shopify signing key
                       {DEMO_SHOPIFY_WEBHOOK_KEY} (the cart guides' samples use them)
  Emails sent:         written as files to {settings.EMAIL_FILE_PATH}/ (development)

Place an order (paste into another terminal):

  curl -s '{base}/gateway/order' \\
    --data-urlencode 'ordermethod=url' --data-urlencode 'source=cdfulfill' \\
    --data-urlencode 'CoLoginEmail={DEMO_EMAIL}' \\
    --data-urlencode 'CoLoginPassword={DEMO_PASSWORD}' --data-urlencode 'mode=prod' \\
    --data-urlencode 'productid=66750x66760' \\
    --data-urlencode 'quantity=1x2' --data-urlencode "Invoice=DEMO-$(date +%s)" \\
    --data-urlencode 'name=John H. Smith' --data-urlencode 'addr=123 Some Street, Apt 12' \\
    --data-urlencode 'city=Minneapolis' --data-urlencode 'st=MN' --data-urlencode 'zip=55401' \\
    --data-urlencode 'email=john@example.com'

Ask for its status (use the invoice the order reply shows):

  curl -s '{base}/gateway/status' --data-urlencode 'function=getOrderStatusByInvoice' \\
    --data-urlencode 'CoLoginEmail={DEMO_EMAIL}' \\
    --data-urlencode 'CoLoginPassword={DEMO_PASSWORD}' \\
    --data-urlencode 'Invoice=DEMO-...'

Cart URLs of the demo publisher: pressrun carturls --publisher {demo.id}
"""
        )

    @staticmethod
    def _replace_published_password() -> str:
        """A new random password for a demo operator that still has the password earlier
        versions printed for everyone to read; "" when there is none such."""
        operator = get_user_model().objects.filter(username=OPERATOR_USERNAME).first()
        if operator is None or not operator.check_password(PUBLISHED_OPERATOR_PASSWORD):
            return ""
        password = secrets.token_urlsafe(12)
        operator.set_password(password)
        operator.save(update_fields=["password"])
        return password

    @staticmethod
    def _operator_login(password: str) -> str:
        """The operator login line: the password only when it was just made (it is stored
        nowhere else, only as a hash)."""
        if password:
            return f"(user {OPERATOR_USERNAME} / {password} - shown only this once)"
        return (
            f"(user {OPERATOR_USERNAME}; its password was shown when it was made - "
            f"`pressrun changepassword {OPERATOR_USERNAME}` sets a new one)"
        )
