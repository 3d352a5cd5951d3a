"""HTTPS only, once published on https:// behind a proxy that marks HTTPS requests: pages
redirect, HTTPS answers carry HSTS, the gateway refuses plain HTTP in its own format, cart
notifications and the health check are answered."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.checks import run_checks
from django.test import Client

from pressrun.accounts.models import LoginFailure
from pressrun.carts.models import InboundDelivery
from pressrun.orders.models import Order
from tests.carts.samcart_payloads import as_json, notification
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

HTTPS = {"HTTP_X_FORWARDED_PROTO": "https"}
ORDER = {
    "source": "cdfulfill",
    "ordermethod": "url",
    "CoLoginPassword": PASSWORD,
    "productid": "66750",
    "name": "Ann",
    "addr": "1 Main St",
    "city": "Austin",
    "st": "TX",
    "zip": "78701",
}


@pytest.fixture
def published_on_https(settings: Any) -> Any:
    settings.PRESSRUN_PUBLIC_BASE_URL = "https://orders.example.com"
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    return settings


def test_pages_over_plain_http_are_redirected_to_https(published_on_https: Any) -> None:
    client = Client()
    for path in ("/sign-in?next=%2Forders", "/", "/admin/login/", "/c/some-token"):
        response = client.get(path)
        assert response.status_code == 301, path
        assert response["Location"] == f"https://testserver{path}"
        assert "Strict-Transport-Security" not in response  # only ever sent over HTTPS


def test_https_answers_carry_hsts(published_on_https: Any) -> None:
    response = Client().get("/sign-in", **HTTPS)
    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == "max-age=31536000"
    published_on_https.PRESSRUN_HSTS_SECONDS = 600
    assert Client().get("/health", **HTTPS)["Strict-Transport-Security"] == "max-age=600"


def test_the_gateway_refuses_plain_http_in_its_own_format(
    published_on_https: Any, make_publisher: Any
) -> None:
    publisher = make_publisher()
    fields = {**ORDER, "CoLoginEmail": publisher.email, "Invoice": "H-1"}
    client = Client()
    response = client.post("/gateway/order", fields)
    assert response.status_code == 403
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response.content.decode() == (
        "[ERRORMSGBEGIN]ERRCODE#000603 [FAILURE] This gateway takes requests over https only. "
        "Send it to the same URL with https:// instead of http://.[ERRORMSGEND]"
    )
    query = client.get("/gateway/order", {**fields, "CoLoginPassword": "wrong"})
    assert query.status_code == 403
    status = client.post(
        "/gateway/status",
        {
            "function": "getOrderStatusByInvoice",
            "CoLoginEmail": publisher.email,
            "CoLoginPassword": PASSWORD,
            "Invoice": "H-1",
        },
    )
    assert status.status_code == 403
    assert re.search(r"<ErrorNum>220</ErrorNum>", status.content.decode())
    # Nothing was checked or stored.
    assert not LoginFailure.objects.exists()
    assert not Order.objects.exists()
    # Over HTTPS the same request is taken.
    over_https = client.post("/gateway/order", {**fields, "CoLoginPassword": "wrong"}, **HTTPS)
    assert over_https.status_code == 200
    assert "ERRCODE#000601" in over_https.content.decode()


def test_cart_notifications_and_the_health_check_are_answered_over_plain_http(
    published_on_https: Any, make_publisher: Any
) -> None:
    publisher = make_publisher()
    client = Client()
    assert client.get("/health").status_code == 200
    response = client.post(
        f"/carts/samcart?idpub={publisher.id}&token={publisher.cart_token}",
        data=as_json(notification()),
        content_type="application/json",
    )
    assert response.status_code == 200
    assert InboundDelivery.objects.filter(publisher=publisher).count() == 1


def test_without_the_proxy_header_nothing_is_redirected_and_a_check_warns(settings: Any) -> None:
    settings.PRESSRUN_PUBLIC_BASE_URL = "https://orders.example.com"
    settings.SECURE_PROXY_SSL_HEADER = None
    response = Client().get("/sign-in")
    assert response.status_code == 200
    assert "Strict-Transport-Security" not in response
    assert [message.id for message in run_checks() if message.id.startswith("pressrun.")] == [
        "pressrun.W001"
    ]


def test_published_on_http_nothing_changes(settings: Any) -> None:
    settings.PRESSRUN_PUBLIC_BASE_URL = "http://127.0.0.1:8000"
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    response = Client().get("/sign-in")
    assert response.status_code == 200
    assert "Strict-Transport-Security" not in response
    assert not [message for message in run_checks() if message.id.startswith("pressrun.")]
