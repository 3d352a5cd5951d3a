"""Form pieces for a recipient's address, shared by the dashboard's order forms and the
customer's address page. They check only the shape of what was typed (lengths, required
fields); the rules and the normalization are intake's."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from pressrun.core.text import is_one_line
from pressrun.orders.changes import ADDRESS_FIELDS
from pressrun.orders.requests import RecipientRequest
from pressrun.orders.services import Refusal

# State and country are typed as names or codes ("California", "United States") and stored
# as codes after normalization, so the typed text may be longer than the stored field.
PLACE_NAME_MAX_LENGTH = 60

# Which address field an intake refusal is about, so its message is shown beside it.
ADDRESS_REFUSAL_FIELDS: dict[Refusal, str] = {
    Refusal.NAME_BLANK: "name",
    Refusal.ADDRESS_BLANK: "address",
    Refusal.CITY_BLANK: "city",
    Refusal.POSTAL_CODE_BLANK: "postal_code",
    Refusal.COUNTRY_INVALID: "country",
    Refusal.STATE_INVALID: "state",
}


def one_line_validator(value: str) -> None:
    """Refuse a line break or a control character: a browser's one-line input never sends
    one, so it came from a crafted request (core/text.py says why it matters)."""
    if not is_one_line(value):
        raise ValidationError(
            "Enter one line, without line breaks or control characters.", code="one_line"
        )


def address_text_field(
    label: str, limit: int, *, required: bool = False, **attrs: Any
) -> forms.CharField:
    """A one-line text field of at most `limit` characters; `attrs` go on the input."""
    return forms.CharField(
        label=label,
        max_length=limit,
        required=required,
        widget=forms.TextInput(attrs=attrs),
        validators=[one_line_validator],
    )


def recipient_from(cleaned_data: dict[str, Any], *, email: str = "") -> RecipientRequest:
    """The recipient typed into a form with the address fields (and `email`, if given)."""
    return RecipientRequest(**{field: cleaned_data[field] for field in ADDRESS_FIELDS}, email=email)
