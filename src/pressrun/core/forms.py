"""Form fields shared by the dashboard and the admin."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms

from pressrun.core.money import MoneyFormatError, format_money, parse_money


class MoneyField(forms.Field):
    """A dollar amount read by `core.money.parse_money` (Django's DecimalField would take
    `1e3`, `١٢` and, with thousands separators on, `19,95`), within `min_value` and
    `max_value` when given. Cleans to a Decimal with two places, or None when blank."""

    widget = forms.TextInput

    def __init__(
        self,
        *,
        min_value: Decimal | None = None,
        max_value: Decimal | None = None,
        **kwargs: Any,
    ) -> None:
        self.min_value, self.max_value = min_value, max_value
        super().__init__(**kwargs)

    def widget_attrs(self, widget: forms.Widget) -> dict[str, Any]:
        attrs = super().widget_attrs(widget)
        attrs.update({"inputmode": "decimal", "autocomplete": "off", "maxlength": "20"})
        return attrs

    def to_python(self, value: Any) -> Decimal | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if isinstance(value, Decimal):
            value = str(value)
        try:
            return parse_money(str(value))
        except MoneyFormatError as exc:
            raise forms.ValidationError(str(exc), code="invalid") from exc

    def validate(self, value: Any) -> None:
        super().validate(value)
        if value is None:
            return
        if self.min_value is not None and value < self.min_value:
            raise forms.ValidationError(
                f"Enter at least {format_money(self.min_value)}.", code="min_value"
            )
        if self.max_value is not None and value > self.max_value:
            raise forms.ValidationError(
                f"Enter at most {format_money(self.max_value)}.", code="max_value"
            )
