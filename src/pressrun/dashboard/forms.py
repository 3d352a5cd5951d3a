"""Forms of the dashboard: they check the shape of what was typed and show messages next to
the fields; the rules themselves are the services', whose refusals are shown the same way."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.db.models import QuerySet

from pressrun.accounts.models import (
    MAX_ADDRESS_ERROR_REMINDER_DAYS,
    MAX_POSTAGE_DELAY_HOURS,
    SHOPIFY_ORDER_TOPICS,
    MailMethod,
)
from pressrun.carts.models import ShippingMatch
from pressrun.catalog.models import Project
from pressrun.core.forms import MoneyField
from pressrun.core.money import format_money
from pressrun.payments.selectors import AddCreditOffer
from pressrun.warehouses.models import WarehouseConnection

MIN_PASSWORD_LENGTH = 8


class DashboardForm(forms.Form):
    """Labels without Django's trailing colon (they read better, and match by name)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class SignInForm(DashboardForm):
    email = forms.EmailField(
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "username", "autofocus": True}),
    )
    password = forms.CharField(
        strip=False,
        max_length=256,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


def _new_password_field(label: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        strip=False,
        min_length=MIN_PASSWORD_LENGTH,
        max_length=256,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=f"At least {MIN_PASSWORD_LENGTH} characters." if label == "New password" else "",
    )


class NewPasswordForm(DashboardForm):
    new_password = _new_password_field("New password")
    new_password_again = _new_password_field("New password again")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        first, second = cleaned.get("new_password"), cleaned.get("new_password_again")
        if first and second and first != second:
            self.add_error("new_password_again", "The two passwords differ.")
        return cleaned


class PasswordChangeForm(NewPasswordForm):
    current_password = forms.CharField(
        strip=False,
        max_length=256,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    field_order = ["current_password", "new_password", "new_password_again"]


class PasswordResetRequestForm(DashboardForm):
    email = forms.EmailField(
        label="Login email",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "username"}),
    )


class AccountSettingsForm(DashboardForm):
    company = forms.CharField(max_length=200, required=False)
    default_mail_method = forms.ChoiceField(
        label="Default mail method",
        choices=MailMethod.choices,
        help_text="Used when an order does not name one.",
    )
    customer_email_notifications = forms.BooleanField(
        label="Email customers when their order is placed and shipped", required=False
    )
    customer_address_changes = forms.BooleanField(
        label="Customers may correct their address (link in the order email)", required=False
    )
    postage_delay_hours = forms.IntegerField(
        label="Postage delay (hours)",
        min_value=0,
        max_value=MAX_POSTAGE_DELAY_HOURS,
        help_text="Hours after an order is placed before postage is printed; customers may "
        "correct their address until then.",
    )
    address_error_reminder_days = forms.IntegerField(
        label="Remind me of unfixed address problems after (days)",
        required=False,
        min_value=1,
        max_value=MAX_ADDRESS_ERROR_REMINDER_DAYS,
        help_text="An order stopped because its address cannot be shipped to waits for you or "
        "the customer to correct it; if nobody has after this many days, we email you once.",
    )
    error_email = forms.EmailField(
        label="Error email",
        required=False,
        max_length=254,
        help_text="Where setup errors and HOLD-order reminders go. Blank: your login email.",
    )
    customer_contact_email = forms.EmailField(
        label="Contact email for customers",
        required=False,
        max_length=254,
        help_text="Shown to customers and used as Reply-To of their emails. Blank: your login "
        "email.",
    )
    shopify_topics = forms.MultipleChoiceField(
        label="Shopify events that create orders",
        choices=[(topic, topic) for topic in SHOPIFY_ORDER_TOPICS],
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one Shopify event."},
    )


class CartCredentialsForm(DashboardForm):
    oneshoppingcart_merchant_id = forms.RegexField(
        label="1ShoppingCart merchant ID",
        regex=r"^[A-Za-z0-9_-]*$",
        max_length=40,
        required=False,
        error_messages={"invalid": "Use only the letters, digits, - and _ of the merchant ID."},
    )
    oneshoppingcart_api_key = forms.CharField(
        label="1ShoppingCart merchant API key",
        max_length=200,
        required=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
        help_text="Leave blank to keep the saved key.",
    )
    clear_oneshoppingcart_api_key = forms.BooleanField(
        label="Remove the saved API key", required=False
    )
    shopify_webhook_key = forms.CharField(
        label="Shopify webhook signing key",
        max_length=200,
        required=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
        help_text="Leave blank to keep the saved key.",
    )
    clear_shopify_webhook_key = forms.BooleanField(
        label="Remove the saved signing key", required=False
    )
    shopify_admin_token = forms.CharField(
        label="Shopify Admin API access token",
        max_length=200,
        required=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
        help_text="Your custom app's Admin API access token (shpat_…), with the scopes "
        "write_merchant_managed_fulfillment_orders and read_merchant_managed_fulfillment_orders: "
        "pressrun sends each shipped order's tracking to Shopify with it. Leave blank to keep "
        "the saved token.",
    )
    clear_shopify_admin_token = forms.BooleanField(
        label="Remove the saved access token", required=False
    )
    shopify_notify_customer = forms.BooleanField(
        label="Shopify also emails the customer when tracking is sent",
        required=False,
        help_text="Shopify's own shipping confirmation, besides pressrun's tracking email.",
    )

    def secret_change(self, name: str) -> str | None:
        """What to store for secret field `name`: None keeps it, "" removes it."""
        if self.cleaned_data.get(f"clear_{name}"):
            return ""
        value = str(self.cleaned_data.get(name) or "").strip()
        return value or None


class ProjectChoiceField(forms.ModelChoiceField[Project]):
    def label_from_instance(self, obj: Project) -> str:
        return f"{obj.id} {obj.title}"


class MapUnmatchedForm(DashboardForm):
    project = ProjectChoiceField(
        queryset=Project.objects.none(),
        empty_label="Choose a project",
        error_messages={"invalid_choice": "Choose one of your projects."},
    )

    def __init__(
        self,
        *args: Any,
        projects: QuerySet[Project],
        shown_projects: list[Project] | None = None,
        **kwargs: Any,
    ) -> None:
        """`shown_projects`: the projects already read, for a page showing one form per
        product (the list is then read once, not once per form)."""
        super().__init__(*args, **kwargs)
        field = self.fields["project"]
        assert isinstance(field, ProjectChoiceField)
        # Only the publisher's own projects: another's id is "not one of the choices".
        field.queryset = projects
        if shown_projects is not None:
            field.widget.choices = [
                ("", field.empty_label),
                *((project.id, field.label_from_instance(project)) for project in shown_projects),
            ]


class AddListingForm(DashboardForm):
    """ "Add a listing" for an unmatched cart product: one of the publisher's warehouses,
    and the SKU it stocks the product under (blank: the cart's SKU). The connection is
    checked by the service (another publisher's is a 404), so the field takes any id."""

    connection = forms.IntegerField(
        label="Warehouse", min_value=1, error_messages={"invalid": "Choose one of your warehouses."}
    )
    warehouse_sku = forms.CharField(
        label="Its warehouse SKU",
        required=False,
        max_length=100,
        help_text="Blank: the same SKU as the cart's.",
    )

    def __init__(
        self, *args: Any, connections: list[WarehouseConnection] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["connection"].widget = forms.Select(
            choices=[
                (connection.id, connection.name + ("" if connection.enabled else " (disabled)"))
                for connection in connections or []
            ]
        )


class PaymentPreviewForm(DashboardForm):
    payment = MoneyField(
        label="If I pay ($)", min_value=Decimal("0.01"), max_value=Decimal("9999999.99")
    )


class AddCreditForm(DashboardForm):
    """An online payment's amount, within the installation's limits."""

    amount = MoneyField(label="Amount ($)")

    def __init__(self, *args: Any, offer: AddCreditOffer, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["amount"]
        assert isinstance(field, MoneyField)
        field.min_value, field.max_value = offer.minimum, offer.maximum
        field.help_text = (
            f"From {format_money(offer.minimum)} to {format_money(offer.maximum)}, in US dollars."
        )


class ShippingRuleForm(DashboardForm):
    match = forms.ChoiceField(
        label="When the cart's shipping description", choices=ShippingMatch.choices
    )
    text = forms.CharField(
        label="this text",
        max_length=200,
        help_text="Compared without regard to upper and lower case or extra spaces.",
    )
    mail_method = forms.ChoiceField(label="ship by", choices=MailMethod.choices)


class ShippingTryForm(DashboardForm):
    description = forms.CharField(
        label="A shipping description as your cart sends it", max_length=200
    )


class WarehouseForm(DashboardForm):
    name = forms.CharField(
        label="Name",
        max_length=100,
        help_text="What you call this warehouse, e.g. “Acme 3PL, Reno”.",
    )


class WarehousePushForm(DashboardForm):
    url = forms.CharField(
        label="Push URL",
        max_length=500,
        required=False,
        help_text="Where pressrun POSTs each order (https). Leave empty for a warehouse that "
        "pulls its orders (ShipStation's Custom Store).",
    )


class ListingsUploadForm(DashboardForm):
    file = forms.FileField(
        label="Listings file (CSV)",
        help_text="Columns channel_sku,warehouse_sku,quantity; several rows with one "
        "channel SKU make a bundle. UTF-8, at most 1 MB.",
    )
    replace_all = forms.BooleanField(
        label="Remove the listings this file does not name",
        required=False,
        help_text="Otherwise only the channel SKUs in the file are replaced; the others stay.",
    )


class CarrierCodesUploadForm(DashboardForm):
    file = forms.FileField(
        label="Carrier codes file (CSV)",
        help_text="Columns Carrier,Code,Description, one row per code. UTF-8, at most 1 MB.",
    )


class DescriptionRuleForm(DashboardForm):
    match = forms.ChoiceField(label="When the cart's shipping description", choices=())
    text = forms.CharField(
        label="this text",
        max_length=200,
        help_text="Compared character for character: upper and lower case and inner spaces "
        "count (spaces at either end of what you type here are removed).",
    )
    carrier_code = forms.ChoiceField(label="send the warehouse the carrier code", choices=())

    def __init__(self, *args: Any, codes: list[tuple[str, str]], **kwargs: Any) -> None:
        from pressrun.warehouses.models import DescriptionMatch

        super().__init__(*args, **kwargs)
        match: Any = self.fields["match"]
        match.choices = DescriptionMatch.choices
        carrier_code: Any = self.fields["carrier_code"]
        carrier_code.choices = codes


class DescriptionTryForm(DashboardForm):
    description = forms.CharField(
        label="A shipping description as your cart sends it", max_length=200, strip=False
    )
