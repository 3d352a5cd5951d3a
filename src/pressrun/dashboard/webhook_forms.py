"""The form of the Integrations → Webhooks page. It checks the shape of what was typed; the
URL rules (https, public addresses) are the webhooks service's, shown next to the field."""

from __future__ import annotations

from django import forms

from pressrun.dashboard.forms import DashboardForm
from pressrun.webhooks.models import WebhookEventType


class WebhookSettingsForm(DashboardForm):
    url = forms.CharField(
        label="Endpoint URL",
        max_length=500,
        required=False,
        # A text input (styled like the others) that phones still open with a URL keyboard.
        widget=forms.TextInput(
            attrs={
                "inputmode": "url",
                "spellcheck": "false",
                "placeholder": "https://example.com/pressrun-webhooks",
            }
        ),
        help_text="An https:// address of your own system that answers a POST with a 2xx status.",
    )
    event_types = forms.MultipleChoiceField(
        label="Events to send",
        choices=WebhookEventType.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    enabled = forms.BooleanField(label="Send webhooks", required=False)
