"""Settings → Cart credentials: a saved key that no longer unseals is named, not hidden."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from pressrun.accounts.models import Publisher

pytestmark = pytest.mark.django_db


def test_an_unreadable_shopify_key_is_shown_as_such(signed_in: Client, publisher: Any) -> None:
    # Sealed under another field key: what a change of PRESSRUN_FIELD_KEY leaves behind.
    Publisher.objects.filter(id=publisher.id).update(shopify_webhook_key_sealed="gAAAAAbogus")
    page = signed_in.get("/settings").content.decode()
    assert (
        "Saved, but unreadable after a key change: enter it again (until then only the URL "
        "token is checked)." in page
    )
    assert "gAAAAAbogus" not in page
