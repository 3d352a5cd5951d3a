"""Forms of the operators' shipping pages."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django import forms
from django.utils import timezone

from pressrun.core.forms import MoneyField
from pressrun.fulfillment.services import (
    MAX_CARRIER_LENGTH,
    MAX_POSTAGE_COST,
    MAX_SERVICE_LENGTH,
    MAX_TRACKING_ID_LENGTH,
)
from pressrun.warehouses.services import MAX_NAME_LENGTH
from pressrun.warehouses.tracking_import import COLUMNS


class StationForm(forms.Form):
    name = forms.CharField(max_length=MAX_NAME_LENGTH, help_text="e.g. ShipStation, main desk.")
    after_packing = forms.BooleanField(
        required=False,
        label="Only packed orders",
        help_text="Export orders once they are marked packed (else every ready order).",
    )


class FindOrderForm(forms.Form):
    order = forms.IntegerField(label="Order number", min_value=1, max_value=2**63 - 1)


class ShipOrderForm(forms.Form):
    ship_date = forms.DateField(
        widget=forms.DateInput(attrs={"type": "date"}), help_text="The day it leaves."
    )
    carrier = forms.CharField(max_length=MAX_CARRIER_LENGTH, required=False)
    service = forms.CharField(max_length=MAX_SERVICE_LENGTH, required=False)
    tracking_id = forms.CharField(
        label="Tracking number",
        max_length=MAX_TRACKING_ID_LENGTH,
        required=False,
        help_text="Blank only for a letter-rate order (no tracking).",
    )
    postage_cost = MoneyField(
        label="Postage cost",
        required=False,
        max_value=MAX_POSTAGE_COST,
        help_text="What the label cost; shown on the margin report.",
    )

    def __init__(self, *args: Any, letter_rate: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.letter_rate = letter_rate
        self.fields["ship_date"].initial = timezone.now().date()

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.letter_rate and not (data.get("tracking_id") or "").strip():
            self.add_error(
                "tracking_id",
                "This order does not ship at letter rate: enter its tracking number.",
            )
        return data


class TrackingImportForm(forms.Form):
    file = forms.FileField(required=False, help_text="A .csv file; or paste the rows below.")
    text = forms.CharField(
        label="CSV rows",
        required=False,
        widget=forms.Textarea(attrs={"rows": 8, "cols": 80, "spellcheck": "false"}),
        help_text="Columns: " + ", ".join(COLUMNS) + ".",
    )

    def rows_text(self) -> str:
        upload = self.cleaned_data.get("file")
        if upload is not None:
            raw = upload.read(1024 * 1024 + 1)
            try:
                return str(raw.decode("utf-8-sig"))
            except UnicodeDecodeError:
                return str(raw.decode("cp1252", "replace"))
        return str(self.cleaned_data.get("text") or "")


class MarginForm(forms.Form):
    date_from = forms.DateField(
        label="Shipped from", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label="to", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def period(self) -> tuple[date, date]:
        today = timezone.now().date()
        data = self.cleaned_data if self.is_valid() else {}
        date_to = data.get("date_to") or today
        date_from = data.get("date_from") or (date_to - timedelta(days=30))
        if date_from > date_to:
            date_from, date_to = date_to, date_from
        return date_from, date_to
