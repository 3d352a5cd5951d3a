"""The forms of the address-error pages: correct an address (operators, publishers) and
report a problem (operators). They check only the shape of what was typed; the services
decide."""

from __future__ import annotations

from typing import Any

from django import forms

from pressrun.orders.address import country_name
from pressrun.orders.forms import PLACE_NAME_MAX_LENGTH, address_text_field, recipient_from
from pressrun.orders.models import Order
from pressrun.orders.requests import RecipientRequest
from pressrun.orders.services import FIELD_LIMITS

MAX_DESCRIPTION_LENGTH = 500


class AddressCorrectionForm(forms.Form):
    name = address_text_field("Full name", FIELD_LIMITS["name"], required=True)
    company = address_text_field("Company / attention", FIELD_LIMITS["company"])
    address = address_text_field("Street address", FIELD_LIMITS["address"], required=True)
    city = address_text_field("City", FIELD_LIMITS["city"], required=True)
    state = address_text_field("State / province", PLACE_NAME_MAX_LENGTH)
    postal_code = address_text_field("ZIP / postal code", FIELD_LIMITS["postal_code"])
    country = address_text_field("Country", PLACE_NAME_MAX_LENGTH)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    @classmethod
    def for_order(cls, order: Order) -> AddressCorrectionForm:
        initial = {field: getattr(order, field) for field in cls.base_fields}
        initial["country"] = country_name(order.country)
        return cls(initial=initial)

    def recipient(self) -> RecipientRequest:
        return recipient_from(self.cleaned_data)


class ReportProblemForm(forms.Form):
    order_id = forms.IntegerField(label="Order number", min_value=1, max_value=2**63 - 1)
    description = forms.CharField(
        label="What is wrong with the address",
        max_length=MAX_DESCRIPTION_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="The publisher and the customer read this (e.g. “The carrier returned it: "
        "no such street number.”).",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
