"""The customer's address form. It checks only the shape of what was typed (lengths, a name,
street and city); the rules and the normalization are intake's, applied by the order-change
service, whose refusals are shown next to the field they concern."""

from __future__ import annotations

from typing import Any

from django import forms

from pressrun.orders.models import Order
from pressrun.orders.requests import RecipientRequest
from pressrun.orders.services import FIELD_LIMITS, Refusal

# Which field an intake refusal is about, so its message is shown beside that field.
REFUSAL_FIELDS: dict[Refusal, str] = {
    Refusal.NAME_BLANK: "name",
    Refusal.ADDRESS_BLANK: "address",
    Refusal.CITY_BLANK: "city",
    Refusal.POSTAL_CODE_BLANK: "postal_code",
    Refusal.COUNTRY_INVALID: "country",
    Refusal.STATE_INVALID: "state",
}


def _text(label: str, limit: int, *, required: bool = False, autocomplete: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=limit,
        required=required,
        widget=forms.TextInput(attrs={"autocomplete": autocomplete}),
    )


class AddressForm(forms.Form):
    name = _text("Full name", FIELD_LIMITS["name"], required=True, autocomplete="name")
    company = _text("Company / attention", FIELD_LIMITS["company"], autocomplete="organization")
    address = _text(
        "Street address", FIELD_LIMITS["address"], required=True, autocomplete="street-address"
    )
    city = _text("City", FIELD_LIMITS["city"], required=True, autocomplete="address-level2")
    state = _text("State / province", 60, autocomplete="address-level1")
    postal_code = _text(
        "ZIP / postal code", FIELD_LIMITS["postal_code"], autocomplete="postal-code"
    )
    country = _text("Country", 60, autocomplete="country")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["state"].help_text = "Required in the United States and Canada."
        self.fields["country"].help_text = "A country name or its two-letter code."

    @classmethod
    def for_order(cls, order: Order) -> AddressForm:
        return cls(initial={field: getattr(order, field) for field in cls.base_fields})

    def recipient(self) -> RecipientRequest:
        data = self.cleaned_data
        return RecipientRequest(
            name=data["name"],
            company=data["company"],
            address=data["address"],
            city=data["city"],
            state=data["state"],
            postal_code=data["postal_code"],
            country=data["country"],
        )

    def add_refusal(self, reason: Refusal | None, message: str) -> None:
        """Show a refusal beside its field (or above the form when it concerns none)."""
        field = REFUSAL_FIELDS.get(reason) if reason is not None else None
        self.add_error(field, message)
