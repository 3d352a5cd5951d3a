"""The outbound rows' shared columns and values (core/outbound.py): every model that uses
them names its states as the module does, and the operator's page lists a row's own fields
before the sending's."""

from __future__ import annotations

import pytest

from pressrun.core import outbound
from pressrun.core.models import OutboundRow
from pressrun.notifications.models import EmailStatus
from pressrun.warehouses.models import PushStatus, WarehousePush
from pressrun.webhooks.models import DeliveryStatus, WebhookDelivery


@pytest.mark.parametrize("status", [DeliveryStatus, PushStatus])
def test_outbound_rows_name_their_states_as_the_module_does(status: type) -> None:
    assert status.PENDING == outbound.PENDING
    assert status.SENDING == outbound.SENDING


def test_emails_claimed_by_the_module_name_sending_as_it_does() -> None:
    assert EmailStatus.SENDING == outbound.SENDING


@pytest.mark.parametrize("model", [WebhookDelivery, WarehousePush])
def test_the_operators_page_lists_the_rows_own_fields_first(model: type[OutboundRow]) -> None:
    names = model.field_names_for_operators()
    shared = [field.name for field in OutboundRow._meta.fields]
    assert sorted(names) == sorted(field.name for field in model._meta.fields)
    assert names[0] == "id"
    assert names[-len(shared) :] == shared
    assert names.index("status") < names.index("series_attempts")
