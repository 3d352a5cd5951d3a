"""The gateway's replies for throttling, a busy database and methods it does not serve."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from django.db import OperationalError
from django.test import Client

from pressrun.orders.models import Order
from tests.gateway.helpers import order_fields, status, submit

pytestmark = pytest.mark.django_db


def test_throttled_sign_in_is_000602_and_errornum_210(
    client: Client, make_publisher: Any, make_project: Any, settings: Any
) -> None:
    settings.LOGIN_FAILURES_PER_ACCOUNT = 2
    publisher = make_publisher()
    project = make_project(publisher)
    for n in range(2):
        wrong = order_fields(publisher, project, CoLoginPassword=f"bad {n}")
        assert submit(client, **wrong)["ERRCODE"] == "000601"
    reply = submit(client, **order_fields(publisher, project, Invoice="T-1"))
    assert reply["ERRCODE"] == "000602"
    assert "Too many failed sign-in attempts for this account" in reply["message"]
    sections = status(client, ["T-1"], email=publisher.email)
    assert [s["ErrorNum"] for s in sections] == ["210"]
    assert not Order.objects.exists()


def test_busy_database_is_a_retryable_failure_not_a_500(
    client: Client, make_publisher: Any, make_project: Any
) -> None:
    publisher = make_publisher(balance="50")
    project = make_project(publisher)
    with mock.patch(
        "pressrun.gateway.views.order_place", side_effect=OperationalError("database is locked")
    ):
        reply = submit(client, **order_fields(publisher, project, Invoice="B-1"))
    assert reply["ERRCODE"] == "009001"
    assert not Order.objects.exists()
    # the retry with the same invoice then succeeds
    assert submit(client, **order_fields(publisher, project, Invoice="B-1"))["SUCCESS"]


def test_busy_database_on_status_is_errornum_900(client: Client, make_publisher: Any) -> None:
    publisher = make_publisher()
    with mock.patch(
        "pressrun.gateway.views.order_by_invoices", side_effect=OperationalError("locked")
    ):
        sections = status(client, ["X"], email=publisher.email)
    assert [s["ErrorNum"] for s in sections] == ["900"]


@pytest.mark.parametrize("url", ["/gateway/order", "/gateway/status"])
@pytest.mark.parametrize("method", ["head", "put", "delete"])
def test_other_methods_are_405_and_place_nothing(
    client: Client, make_publisher: Any, make_project: Any, url: str, method: str
) -> None:
    publisher = make_publisher(balance="50")
    project = make_project(publisher)
    fields = order_fields(publisher, project, Invoice="H-1")
    reply = getattr(client, method)(url, fields)
    assert reply.status_code == 405
    assert not Order.objects.exists()
