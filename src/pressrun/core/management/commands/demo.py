"""`pressrun demo`: demo data for a new installation, and how to try it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from pressrun.accounts.models import Publisher
from pressrun.accounts.services import publisher_create
from pressrun.billing.services import ledger_credit
from pressrun.catalog.services import project_create

DEMO_EMAIL = "demo@pressrun.localhost"
DEMO_PASSWORD = "demo-password"  # noqa: S105 - a documented local demo account
OPERATOR_USERNAME = "operator"
OPERATOR_PASSWORD = "operator-password"  # noqa: S105 - a documented local demo account
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
                    user_model.objects.create_superuser(
                        username=OPERATOR_USERNAME, email="", password=OPERATOR_PASSWORD
                    )
            self.stdout.write("Created the demo publisher, its projects and an operator login.")
        base = options["base_url"].rstrip("/")
        demo = Publisher.objects.filter(email=DEMO_EMAIL).first()
        if demo is None:
            self.stdout.write(f"Operators: {base}/admin/")
            return
        self.stdout.write(
            f"""
pressrun is ready.

  Publisher dashboard: {base}/   (sign in as {DEMO_EMAIL} / {DEMO_PASSWORD})
  Operator console:    {base}/admin/   (user {OPERATOR_USERNAME} / {OPERATOR_PASSWORD})
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
