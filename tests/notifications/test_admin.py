"""Operators read the email log in the admin; nobody edits it there."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from pressrun.notifications.models import OutgoingEmail
from pressrun.notifications.selectors import emails_for_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(client: Client) -> Client:
    user = get_user_model().objects.create_superuser("op", "", "operator-pass")
    client.force_login(user)
    return client


def test_the_log_is_listed_and_read_only(
    operator: Client, publisher: Any, cd: Any, place: Any
) -> None:
    order = place(publisher, cd)
    row = OutgoingEmail.objects.get(to="ann@example.com")

    listing = operator.get("/admin/notifications/outgoingemail/")
    assert listing.status_code == 200
    assert f"Your order {order.id} from Acme Discs" in listing.content.decode()

    detail = operator.get(f"/admin/notifications/outgoingemail/{row.id}/change/")
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.content.decode()
    assert operator.post(f"/admin/notifications/outgoingemail/{row.id}/delete/").status_code == 403
    assert operator.get("/admin/notifications/outgoingemail/add/").status_code == 403
    assert OutgoingEmail.objects.filter(id=row.id).exists()


def test_selectors_show_only_the_publishers_own_emails(
    make_account: Any, cd_for: Any, place: Any
) -> None:
    first = make_account(balance="100", company="First")
    second = make_account(balance="100", company="Second")
    first_order = place(first, cd_for(first))
    place(second, cd_for(second))

    assert [e.to for e in emails_for_order(publisher=first, order_id=first_order.id)] == [
        "ann@example.com"
    ]
    assert list(emails_for_order(publisher=second, order_id=first_order.id)) == []
