"""Order forms of the dashboard: the list's filters, changing a HOLD order, and a manual
order. They check the shape of what was typed; the rules are intake's and the order-change
service's, whose refusals are shown next to the field they concern."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.db.models import QuerySet

from pressrun.accounts.models import MailMethod
from pressrun.catalog.models import Project
from pressrun.core.forms import MoneyField
from pressrun.dashboard.forms import DashboardForm, ProjectChoiceField
from pressrun.fulfillment.selectors import state_q
from pressrun.orders.forms import (
    ADDRESS_REFUSAL_FIELDS,
    PLACE_NAME_MAX_LENGTH,
    address_text_field,
    recipient_from,
)
from pressrun.orders.models import FulfillmentState, Mode, Order, OrderLine, OrderStatus, Source
from pressrun.orders.requests import LineRequest, RecipientRequest
from pressrun.orders.selectors import OrderFilters
from pressrun.orders.services import (
    FIELD_LIMITS,
    MAX_INVOICE_LENGTH,
    MAX_QUANTITY_PER_LINE,
    MAX_SPECIAL_TEXT_LENGTH,
    Refusal,
)

ANY = ("", "Any")
MANUAL_ORDER_LINES = 5
SEARCH_MAX_LENGTH = 100

# Which field an intake refusal is about, so its message is shown beside that field.
REFUSAL_FIELDS: dict[Refusal, str] = {
    **ADDRESS_REFUSAL_FIELDS,
    Refusal.EMAIL_INVALID: "email",
    Refusal.INVOICE_TOO_LONG: "invoice",
    Refusal.LINE_BREAK: "invoice",
    Refusal.DUPLICATE: "invoice",
    Refusal.SPECIAL_TEXT_TOO_LONG: "special_text",
    Refusal.SPECIAL_TEXT_HTML: "special_text",
    Refusal.MAIL_METHOD_INVALID: "mail_method",
    Refusal.MODE_INVALID: "mode",
    Refusal.PRICE_INVALID: "customer_price",
}


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs, format="%Y-%m-%d")


class OrderFilterForm(DashboardForm):
    """The order list's filters, read from the query string (blank means any)."""

    q = forms.CharField(
        label="Search",
        required=False,
        max_length=SEARCH_MAX_LENGTH,
        help_text="Invoice, customer name, email, tracking ID or order number.",
        widget=forms.TextInput(attrs={"inputmode": "search", "autocomplete": "off"}),
    )
    mode = forms.ChoiceField(required=False, choices=[ANY, *Mode.choices])
    status = forms.ChoiceField(required=False, choices=[ANY, *OrderStatus.choices])
    source = forms.ChoiceField(required=False, choices=[ANY, *Source.choices])
    fulfillment = forms.ChoiceField(
        label="Fulfillment", required=False, choices=[ANY, *FulfillmentState.choices]
    )
    placed_from = forms.DateField(label="Placed from", required=False, widget=DateInput())
    placed_to = forms.DateField(label="Placed to", required=False, widget=DateInput())

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        first, last = cleaned.get("placed_from"), cleaned.get("placed_to")
        if first and last and first > last:
            self.add_error("placed_to", "The last day is before the first day.")
        return cleaned

    def filters(self) -> OrderFilters:
        """The valid filters (an invalid one is left out, and shown with its message)."""
        self.is_valid()  # cleaned_data keeps the fields that are valid
        data = self.cleaned_data
        physical = data.get("fulfillment", "")
        return OrderFilters(
            where=state_q(physical) if physical else None,
            mode=data.get("mode", ""),
            status=data.get("status", ""),
            source=data.get("source", ""),
            placed_from=data.get("placed_from"),
            placed_to=data.get("placed_to"),
            search=data.get("q", ""),
        )


class RecipientForm(DashboardForm):
    """The customer's name and address, as intake takes them (it normalizes country and
    state and says what is wrong)."""

    name = address_text_field("Name", FIELD_LIMITS["name"], required=True)
    company = address_text_field("Company / attention", FIELD_LIMITS["company"])
    address = address_text_field("Street address", FIELD_LIMITS["address"], required=True)
    city = address_text_field("City", FIELD_LIMITS["city"], required=True)
    state = address_text_field("State / province", PLACE_NAME_MAX_LENGTH)
    postal_code = address_text_field("ZIP / postal code", FIELD_LIMITS["postal_code"])
    country = address_text_field("Country", PLACE_NAME_MAX_LENGTH)
    email = forms.EmailField(label="Customer email", required=False, max_length=254)

    def recipient(self) -> RecipientRequest:
        return recipient_from(self.cleaned_data, email=self.cleaned_data["email"])


RecipientForm.base_fields["country"].help_text = "Blank: United States."


def _quantity_field(label: str, *, required: bool) -> forms.IntegerField:
    return forms.IntegerField(
        label=label,
        required=required,
        min_value=1,
        max_value=MAX_QUANTITY_PER_LINE,
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )


class OrderModifyForm(RecipientForm):
    """Address, quantities and mail method of a HOLD order, with its current values."""

    mail_method = forms.ChoiceField(label="Mail method", choices=MailMethod.choices)

    def __init__(self, *args: Any, order: Order, lines: list[OrderLine], **kwargs: Any) -> None:
        initial: dict[str, Any] = {
            "name": order.name,
            "company": order.company,
            "address": order.address,
            "city": order.city,
            "state": order.state,
            "postal_code": order.postal_code,
            "country": order.country,
            "email": order.email,
            "mail_method": order.mail_method,
        }
        for line in lines:
            initial[self.quantity_name(line)] = line.quantity
        super().__init__(*args, initial=initial, **kwargs)
        self.lines = lines
        for line in lines:
            self.fields[self.quantity_name(line)] = _quantity_field(
                f"Quantity of {line.project_id} {line.project.title}", required=True
            )

    @staticmethod
    def quantity_name(line: OrderLine) -> str:
        return f"quantity_{line.id}"

    def quantities(self) -> dict[int, int]:
        return {line.id: self.cleaned_data[self.quantity_name(line)] for line in self.lines}


class ManualOrderForm(RecipientForm):
    """An order typed in by the publisher, placed through intake like a gateway order."""

    mode = forms.ChoiceField(
        choices=Mode.choices,
        initial=Mode.TEST,
        widget=forms.RadioSelect,
        help_text="Test orders are never billed, made or shipped.",
    )
    invoice = address_text_field("Invoice", MAX_INVOICE_LENGTH)
    mail_method = forms.ChoiceField(label="Mail method", choices=MailMethod.choices)
    special_text = forms.CharField(
        label="Special text",
        required=False,
        max_length=MAX_SPECIAL_TEXT_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="For this customer only (a serial number, an unlock code); replaces the "
        "project's. No HTML.",
    )
    customer_price = MoneyField(
        label="Price printed on the customer's invoice ($)",
        required=False,
        min_value=Decimal("0"),
        max_value=Decimal("99999.99"),
        help_text="Optional; 0 or blank: no price is printed.",
    )
    use_price_on_customs_form = forms.BooleanField(
        label="Use this price on the customs form (international orders)", required=False
    )
    send_notification_email = forms.TypedChoiceField(
        label="Email the customer",
        required=False,
        choices=[("", "As in my settings"), ("1", "Yes"), ("0", "No")],
        coerce=lambda value: value == "1",
        empty_value=None,
    )

    field_order = [
        "mode",
        "invoice",
        *(
            name
            for n in range(1, MANUAL_ORDER_LINES + 1)
            for name in (f"project_{n}", f"quantity_{n}")
        ),
        "name",
        "company",
        "address",
        "city",
        "state",
        "postal_code",
        "country",
        "email",
        "mail_method",
        "special_text",
        "customer_price",
        "use_price_on_customs_form",
        "send_notification_email",
    ]

    def __init__(self, *args: Any, projects: QuerySet[Project], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for number in range(1, MANUAL_ORDER_LINES + 1):
            first = number == 1
            # Only the publisher's own projects: another's id is "not one of the choices".
            self.fields[f"project_{number}"] = ProjectChoiceField(
                label=f"Product {number}",
                queryset=projects,
                required=first,
                empty_label="Choose a project" if first else "(none)",
                error_messages={"invalid_choice": "Choose one of your projects."},
            )
            self.fields[f"quantity_{number}"] = _quantity_field(
                f"Quantity {number}", required=False
            )
            self.fields[f"quantity_{number}"].initial = 1 if first else None
        self.order_fields(self.field_order)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for number in range(1, MANUAL_ORDER_LINES + 1):
            project = cleaned.get(f"project_{number}")
            quantity = cleaned.get(f"quantity_{number}")
            if project is None and quantity and number > 1:
                self.add_error(f"project_{number}", "Choose the project for this quantity.")
            elif (
                project is not None
                and quantity is None
                and not self.has_error(f"quantity_{number}")
            ):
                self.add_error(
                    f"quantity_{number}", f"Enter a quantity from 1 to {MAX_QUANTITY_PER_LINE}."
                )
        return cleaned

    def lines(self) -> tuple[LineRequest, ...]:
        data = self.cleaned_data
        return tuple(
            LineRequest(project_id=data[f"project_{n}"].id, quantity=data[f"quantity_{n}"])
            for n in range(1, MANUAL_ORDER_LINES + 1)
            if data.get(f"project_{n}") is not None
        )

    def line_fields(self) -> list[tuple[forms.BoundField, forms.BoundField]]:
        """(project, quantity) field pairs, for the template's product rows."""
        return [
            (self[f"project_{n}"], self[f"quantity_{n}"]) for n in range(1, MANUAL_ORDER_LINES + 1)
        ]

    def other_fields(self) -> list[forms.BoundField]:
        return [
            field
            for field in self
            if not field.name.startswith(("project_", "quantity_")) and field.name != "mode"
        ]
