"""The customer's address form. It checks only the shape of what was typed (lengths, a name,
street and city); the rules and the normalization are intake's, applied by the order-change
service, whose refusals are shown next to the field they concern."""

from __future__ import annotations

from typing import Any

from django import forms

from pressrun.orders.address import country_name
from pressrun.orders.forms import (
    ADDRESS_REFUSAL_FIELDS,
    PLACE_NAME_MAX_LENGTH,
    address_text_field,
    recipient_from,
)
from pressrun.orders.models import Order
from pressrun.orders.requests import RecipientRequest
from pressrun.orders.services import FIELD_LIMITS, Refusal


class AddressForm(forms.Form):
    name = address_text_field("Full name", FIELD_LIMITS["name"], required=True, autocomplete="name")
    company = address_text_field(
        "Company / attention", FIELD_LIMITS["company"], autocomplete="organization"
    )
    address = address_text_field(
        "Street address", FIELD_LIMITS["address"], required=True, autocomplete="street-address"
    )
    city = address_text_field(
        "City", FIELD_LIMITS["city"], required=True, autocomplete="address-level2"
    )
    state = address_text_field(
        "State / province", PLACE_NAME_MAX_LENGTH, autocomplete="address-level1"
    )
    postal_code = address_text_field(
        "ZIP / postal code", FIELD_LIMITS["postal_code"], autocomplete="postal-code"
    )
    country = address_text_field("Country", PLACE_NAME_MAX_LENGTH, autocomplete="country")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["state"].help_text = "Required in the United States and Canada."
        self.fields["country"].help_text = "A country name or its two-letter code."

    @classmethod
    def for_order(cls, order: Order) -> AddressForm:
        initial = {field: getattr(order, field) for field in cls.base_fields}
        # The customer reads and keeps the country's name; intake reads it back as the code.
        initial["country"] = country_name(order.country)
        return cls(initial=initial)

    def recipient(self) -> RecipientRequest:
        return recipient_from(self.cleaned_data)

    def add_refusal(self, reason: Refusal | None, message: str) -> None:
        """Show a refusal beside its field (or above the form when it concerns none)."""
        field = ADDRESS_REFUSAL_FIELDS.get(reason) if reason is not None else None
        self.add_error(field, message)
