"""The project form of the dashboard: the fields a publisher may set. The price is not one of
them (operators set it; publishers see it), nor the project ID (pressrun assigns it)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.urls import reverse

from pressrun.catalog.ecommerce_ids import ECOMMERCE_IDS_MAX_LENGTH
from pressrun.catalog.models import Media, Packaging
from pressrun.catalog.services import SPECIAL_TEXT_MAX_LENGTH, TITLE_MAX_LENGTH
from pressrun.dashboard.forms import DashboardForm

# The live check of the eCommerce ID String (an htmx request) waits this long after typing.
CHECK_DELAY = "400ms"


class ProjectForm(DashboardForm):
    title = forms.CharField(max_length=TITLE_MAX_LENGTH)
    # The field shadows Form.media (widget assets) only as a class attribute: the form
    # metaclass moves it into base_fields, so form.media stays the assets.
    media = forms.ChoiceField(choices=Media.choices)  # type: ignore[assignment]
    packaging = forms.ChoiceField(choices=Packaging.choices)
    special_text = forms.CharField(
        label="Default special text",
        required=False,
        max_length=SPECIAL_TEXT_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Printed for every customer of this project, unless an order gives its own "
        f"(a serial number, an unlock code). At most {SPECIAL_TEXT_MAX_LENGTH} characters, "
        "no HTML.",
    )
    ecommerce_ids = forms.CharField(
        label="eCommerce ID String",
        required=False,
        max_length=ECOMMERCE_IDS_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "autocomplete": "off"}),
        help_text="The cart product IDs or SKUs that order this project: one ID, or each in "
        "brackets, e.g. <5000-A> <6000-B> (1ShoppingCart) or {294010}{298020} (SamCart, "
        "Shopify). Blank: carts order it only by its project ID.",
    )

    # Shown (as a checkbox) only once saving was refused because the string uses IDs other
    # projects answer to: the publisher confirms, naming no project blindly.
    confirm_shared_ids = forms.BooleanField(
        label="Yes, save it: these IDs may also order the other projects named above",
        required=False,
        widget=forms.HiddenInput,
    )

    def ask_to_confirm_shared_ids(self, message: str) -> None:
        """Show why saving was refused next to the string, and the confirmation box."""
        self.add_error("ecommerce_ids", message)
        self.fields["confirm_shared_ids"].widget = forms.CheckboxInput()

    def __init__(self, *args: Any, project_id: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # As the publisher types, the server parses the string and lists its IDs and the
        # other projects they also order (a plain form post checks the same on save).
        field = self.fields["ecommerce_ids"]
        field.widget.attrs.update(
            {
                "hx-get": reverse("dashboard:ecommerce_ids_check"),
                "hx-trigger": f"input changed delay:{CHECK_DELAY}",
                "hx-target": "#ecommerce-ids-check",
                "hx-swap": "innerHTML",
                "aria-controls": "ecommerce-ids-check",
            }
        )
        if project_id is not None:
            field.widget.attrs["hx-vals"] = f'{{"project": {int(project_id)}}}'
