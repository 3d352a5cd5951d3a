"""Styled error pages with a sentence saying what happened (the dashboard's look when signed
in, a plain branded page otherwise), never Django's bare "Not Found" or a traceback; and
forms shown again with errors are sent with Cache-Control: no-store."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone

from pressrun.accounts.models import Publisher
from pressrun.dashboard.tokens import encode_publisher_id, password_reset_token
from pressrun.orders.changes import order_delete
from pressrun.orders.models import OrderLine

pytestmark = pytest.mark.django_db

NOT_FOUND = (
    "There is no page at this address. It may have been mistyped, or what it showed no "
    "longer exists."
)


def what_happened(response: Any) -> str:
    """The page's sentence saying what happened, as text."""
    page = response.content.decode()
    sentence = page.split('data-testid="what-happened">')[1].split("</p>")[0]
    return " ".join(html.unescape(sentence).split())


def assert_styled(response: Any, status: int, *, csp: bool = True) -> None:
    page = response.content.decode()
    assert response.status_code == status
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert "/static/dashboard/dashboard.css" in page
    assert 'class="brand"' in page
    assert "<h1>Not Found</h1>" not in page
    assert "Traceback" not in page
    if csp:
        assert response["Content-Security-Policy"] == django_settings.CONTENT_SECURITY_POLICY


def test_an_unknown_url_signed_out_is_a_plain_branded_page(client: Client) -> None:
    response = client.get("/no/such/page")
    assert_styled(response, 404)
    assert what_happened(response) == NOT_FOUND
    assert 'href="/sign-in"' in response.content.decode()
    assert 'aria-label="Main"' not in response.content.decode()


def test_an_unknown_url_signed_in_has_the_dashboard_navigation(signed_in: Client) -> None:
    response = signed_in.get("/no/such/page")
    assert_styled(response, 404)
    page = response.content.decode()
    assert 'aria-label="Main"' in page
    assert '<a href="/orders">Orders</a>' in page
    assert "Sign out" in page
    assert what_happened(response) == NOT_FOUND


def test_a_deleted_order_says_when_and_by_whom(
    signed_in: Client,
    publisher: Publisher,
    make_project: Callable[..., Any],
    place_order: Callable[..., Any],
) -> None:
    order = place_order(publisher, make_project(publisher))
    deleted = order_delete(
        publisher=publisher, order_id=order.id, actor="dashboard (owner@example.com)"
    )
    for path in (f"/orders/{order.id}", f"/orders/{order.id}/modify"):
        response = signed_in.get(path)
        assert_styled(response, 404)
        assert what_happened(response) == (
            f"Order {order.id} was deleted on {deleted.deleted_at:%Y-%m-%d %H:%M} UTC by "
            "dashboard (owner@example.com): it will not be made or shipped, and its invoice "
            "can be used again."
        )
        assert 'aria-label="Main"' in response.content.decode()


def test_an_unknown_or_another_publishers_order_reads_the_same(
    signed_in: Client,
    make_publisher: Callable[..., Any],
    make_project: Callable[..., Any],
    place_order: Callable[..., Any],
) -> None:
    other = make_publisher(email="other@example.com")
    theirs = place_order(other, make_project(other))
    for order_id in (theirs.id, 999_999):
        response = signed_in.get(f"/orders/{order_id}")
        assert_styled(response, 404)
        assert what_happened(response) == f"There is no order {order_id} in your account."
    response = signed_in.get("/projects/999999")
    assert what_happened(response) == "There is no project 999999 in your account."


def test_a_mistyped_customer_link_and_a_cancelled_orders_link(
    client: Client,
    publisher: Publisher,
    make_project: Callable[..., Any],
    place_order: Callable[..., Any],
) -> None:
    response = client.get("/c/not-a-real-token")
    assert response.status_code == 404
    page = response.content.decode()
    assert "/static/customers/customer.css" in page
    assert "<h1>This link does not work</h1>" in page
    assert what_happened(response) == (
        "No order has this link. It may have been cut short or mistyped: open it again from "
        "your order email, or copy the whole address."
    )

    order = place_order(publisher, make_project(publisher), email="ann@example.com")
    order_delete(publisher=publisher, order_id=order.id, actor="dashboard")
    for method in ("get", "post"):
        response = getattr(client, method)(f"/c/{order.customer_token}")
        assert response.status_code == 410
        page = response.content.decode()
        assert f"<h1>Order {order.id} was cancelled</h1>" in page
        assert what_happened(response) == (
            f"Owner Records cancelled this order on {timezone.now():%Y-%m-%d}. Nothing will "
            "be shipped and nothing will be charged for it, so this link no longer works."
        )
        assert 'href="mailto:owner@example.com"' in page


def test_a_server_error_is_a_styled_page_without_a_traceback(settings: Any) -> None:
    settings.ROOT_URLCONF = "tests.dashboard.error_urls"
    response = Client(raise_request_exception=False).get("/test-boom")
    assert response.status_code == 500
    page = response.content.decode()
    assert "<h1>Something went wrong</h1>" in page
    assert "SECRET-DETAIL" not in page
    assert "Traceback" not in page
    assert "/static/dashboard/dashboard.css" in page
    assert response["Cache-Control"] == "no-store, private"


def test_forbidden_and_bad_requests_are_styled(settings: Any, signed_in: Client) -> None:
    settings.ROOT_URLCONF = "tests.dashboard.error_urls"
    response = signed_in.get("/test-forbidden")
    assert_styled(response, 403)
    assert what_happened(response) == (
        "This page or action is not open to you. Nothing was changed."
    )
    assert 'aria-label="Main"' in response.content.decode()
    # Refused by the host check, before the middleware that adds the policy header.
    response = Client().get("/sign-in", headers={"host": "evil.example"})
    assert_styled(response, 400, csp=False)
    assert what_happened(response).startswith("The request could not be understood")


# --- forms shown again with errors are not cached -------------------------------------------


def test_every_forms_error_response_is_no_store(
    client: Client,
    publisher: Publisher,
    make_project: Callable[..., Any],
    place_order: Callable[..., Any],
    client_for: Callable[..., Client],
) -> None:
    project = make_project(publisher)
    order = place_order(publisher, project, email="ann@example.com")
    line = OrderLine.objects.get(order=order)
    reset_path = (
        f"/password-reset/{encode_publisher_id(publisher)}/{password_reset_token(publisher)}"
    )
    signed_out = {
        "/sign-in": {"email": publisher.email, "password": "not the password"},
        "/password-reset": {"email": "not an email"},
        reset_path: {"new_password": "one password 123", "new_password_again": "another 123"},
        f"/c/{order.customer_token}": {"name": "", "address": "", "city": "", "country": ""},
    }
    for path, data in signed_out.items():
        response = client.post(path, data)
        assert response.status_code in (200, 400), (path, response.status_code)
        assert 'class="error' in response.content.decode() or "alert" in response.content.decode()
        assert "no-store" in response["Cache-Control"], path
    signed_in = client_for(publisher)
    dashboard = {
        "/settings": {"company": "x" * 300, "default_mail_method": "standard"},
        "/settings/carts": {"oneshoppingcart_merchant_id": "not digits!"},
        "/settings/password": {
            "current_password": "wrong",
            "new_password": "a new password 1",
            "new_password_again": "a new password 1",
        },
        "/integrations/shipping-rules": {"match": "is", "text": "", "mail_method": "priority"},
        "/projects/new": {"title": "", "media": "cd", "packaging": "sleeve"},
        f"/projects/{project.id}": {"title": "", "media": "cd", "packaging": "sleeve"},
        "/orders/new": {"mode": "test"},
        f"/orders/{order.id}/modify": {
            "name": "Ann",
            "address": "1 Main Street",
            "city": "Springfield",
            "state": "IL",
            "postal_code": "62701",
            "country": "Nowhere Land",
            "mail_method": "standard",
            f"quantity_{line.id}": "1",
        },
    }
    for path, data in dashboard.items():
        response = signed_in.post(path, data)
        assert response.status_code in (200, 400), (path, response.status_code)
        page = response.content.decode()
        assert 'class="error' in page or 'class="form-errors"' in page, path
        assert response["Cache-Control"] == "no-store, private", path
