"""`pressrun demo`: demo data for a new installation, and how to try it."""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from pressrun.accounts.models import Publisher
from pressrun.accounts.services import publisher_create
from pressrun.billing.services import ledger_credit
from pressrun.catalog.services import project_create

DEMO_EMAIL = "demo@pressrun.localhost"
DEMO_PASSWORD = "demo-password"  # noqa: S105 - a documented local demo account
OPERATOR_USERNAME = "operator"
# What earlier versions gave the demo operator: replaced by a random password when found.
PUBLISHED_OPERATOR_PASSWORD = "operator-password"  # noqa: S105 - to find and replace it
DEMO_PROJECTS = (
    (66750, "Greatest Hits (CD)", "cd", "sleeve", "4.50"),
    (66760, "Live in Concert (DVD)", "dvd", "dvd-case", "6.25"),
    (66770, "Complete Works (USB)", "usb", "usb-ecomailer", "9.00"),
)


class Command(BaseCommand):
    help = "Create a demo publisher, projects and operator when the database has no publisher."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")

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
            with transaction.atomic():
                publisher = publisher_create(
                    email=DEMO_EMAIL, password=DEMO_PASSWORD, company="Demo Records"
                )
                for project_id, title, media, packaging, price in DEMO_PROJECTS:
                    project_create(
                        publisher=publisher,
                        project_id=project_id,
                        title=title,
                        media=media,
                        packaging=packaging,
                        price=Decimal(price),
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
            self.stdout.write("Created the demo publisher, its projects and an operator login.")
        operator_password = operator_password or self._replace_published_password()
        base = options["base_url"].rstrip("/")
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
