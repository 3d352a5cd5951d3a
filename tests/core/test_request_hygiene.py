"""Request hygiene (core/request_hygiene.py): a Content-Type charset that is no text encoding
and a chunked body, on every endpoint, through Django's test client.

Before: `charset=rot13` (base64, zlib, punycode…) raised from inside `request.GET` / the
gateway's decoder: a 500 and a traceback per request. A chunked body was read as empty.
"""

from __future__ import annotations

import io
import json
import logging
import re
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import urlencode

import pytest
from django.test import Client
from django_tasks_db.models import DBTaskResult

from pressrun.billing.models import StatusCallHour
from pressrun.carts.models import InboundDelivery, Outcome
from pressrun.core.request_hygiene import CHUNKED_BODY_LIMIT_BYTES, text_encoding
from pressrun.orders.models import Order
from tests.carts.samcart_payloads import as_json, notification
from tests.carts.shopify_payloads import order_json, shopify_headers
from tests.gateway.helpers import ORDER_URL, STATUS_URL, order_fields, parse_submit_reply

pytestmark = pytest.mark.django_db

FORM = "application/x-www-form-urlencoded"
# The list, and names no codec has.
NOT_TEXT_ENCODINGS = [
    "rot13",
    "rot_13",
    "base64",
    "hex",
    "zlib",
    "bz2",
    "uu",
    "quopri",
    "punycode",
    "idna",
    "utf-7",
    "undefined",
    "unicode_escape",
    "x-no-such-charset",
]
TEXT_ENCODINGS = ["utf-8", "UTF8", "windows-1252", "iso-8859-1", "latin-1", "ascii", "utf-16"]


def charset_message(charset: str) -> str:
    return (
        f"The Content-Type charset '{charset}' is not a text encoding this service reads; "
        "send UTF-8."
    )


@pytest.fixture
def publisher(make_publisher: Any) -> Any:
    return make_publisher(balance="100")


@pytest.fixture
def project(make_project: Any, publisher: Any) -> Any:
    return make_project(publisher, ecommerce_ids="{294010}")


def refusal_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.WARNING]


def assert_one_log_line(caplog: pytest.LogCaptureFixture, status: int, path: str) -> None:
    records = refusal_records(caplog)
    assert [(r.name, r.levelname, r.exc_info) for r in records] == [
        ("pressrun.core.request_hygiene", "WARNING", None)
    ], [r.getMessage() for r in records]
    assert records[0].getMessage().startswith(f"request refused ({status}): ")
    assert path in records[0].getMessage()


@pytest.mark.parametrize("name", NOT_TEXT_ENCODINGS)
def test_codecs_that_are_no_text_encoding_are_refused(name: str) -> None:
    assert text_encoding(name) is None


@pytest.mark.parametrize("name", TEXT_ENCODINGS)
def test_real_text_encodings_are_honoured(name: str) -> None:
    assert text_encoding(name) is not None


# --- the gateway: its own [FAILURE] format --------------------------------------------------


@pytest.mark.parametrize("charset", NOT_TEXT_ENCODINGS)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_the_gateway_answers_a_bad_charset_with_000049(
    publisher: Any, project: Any, charset: str, method: str, caplog: pytest.LogCaptureFixture
) -> None:
    fields = urlencode(order_fields(publisher, project, Invoice="CS-1"))
    client = Client(raise_request_exception=False)
    content_type = f"{FORM}; charset={charset}"
    if method == "GET":
        response = client.get(f"{ORDER_URL}?{fields}", CONTENT_TYPE=content_type)
    else:
        response = client.generic("POST", ORDER_URL, data=fields, content_type=content_type)
    reply = parse_submit_reply(response)
    assert reply == {
        "SUCCESS": False,
        "ERRCODE": "000049",
        "message": "The request's charset is not a text encoding. " + charset_message(charset),
    }
    assert not Order.objects.exists()
    assert_one_log_line(caplog, 415, ORDER_URL)


@pytest.mark.parametrize("charset", ["rot13", "punycode", "x-no-such-charset"])
def test_the_status_call_answers_a_bad_charset_with_its_xml(
    publisher: Any, charset: str, caplog: pytest.LogCaptureFixture
) -> None:
    query = urlencode(
        {
            "function": "getOrderStatusByInvoice",
            "Invoice": "A-1",
            "CoLoginEmail": publisher.email,
            "CoLoginPassword": "correct horse battery",
        }
    )
    response = Client(raise_request_exception=False).get(
        f"{STATUS_URL}?{query}", CONTENT_TYPE=f"{FORM}; charset={charset}"
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/xml; charset=utf-8"
    section = ET.fromstring(response.content).find("Status1")
    assert section is not None
    assert section.findtext("ErrorNum") == "400"
    assert section.findtext("ErrorDesc") == (
        "[ERRORMSGBEGIN]ERRCODE#000049 [FAILURE] The request's charset is not a text encoding. "
        f"{charset_message(charset)}[ERRORMSGEND]"
    )
    assert not StatusCallHour.objects.exists()  # nothing charged, nothing counted
    assert_one_log_line(caplog, 415, STATUS_URL)


# --- the carts: 415, kept in the delivery log when the sender checks out --------------------


def cart_url(cart: str, publisher: Any, token: str) -> str:
    if cart == "1shoppingcart":
        return f"/carts/1shoppingcart?TSMode=prod&TSPub={publisher.id}&token={token}"
    return f"/carts/{cart}?idpub={publisher.id}&token={token}"


CART_BODIES = {
    "shopify": (order_json(), "application/json"),
    "samcart": (as_json(notification()), "application/json"),
    "1shoppingcart": (b"<Notification><OrderID>1</OrderID></Notification>", "text/xml"),
}


@pytest.mark.parametrize("cart", sorted(CART_BODIES))
@pytest.mark.parametrize("charset", ["rot13", "zlib", "idna", "x-no-such-charset"])
def test_a_cart_delivery_with_a_bad_charset_is_415_and_kept_as_failed(
    publisher: Any, cart: str, charset: str, caplog: pytest.LogCaptureFixture
) -> None:
    body, content_type = CART_BODIES[cart]
    response = Client(raise_request_exception=False).generic(
        "POST",
        cart_url(cart, publisher, publisher.cart_token),
        data=body,
        content_type=f"{content_type}; charset={charset}",
        **(shopify_headers() if cart == "shopify" else {}),
    )
    assert response.status_code == 415
    assert response.content.decode() == charset_message(charset) + "\n"
    delivery = InboundDelivery.objects.get()
    assert (delivery.cart, delivery.outcome, delivery.reason, bytes(delivery.body)) == (
        cart,
        Outcome.FAILED,
        charset_message(charset),
        body,
    )
    assert not DBTaskResult.objects.exists()
    assert not Order.objects.exists()
    assert_one_log_line(caplog, 415, f"/carts/{cart}")


@pytest.mark.parametrize("cart", sorted(CART_BODIES))
def test_a_bad_charset_from_an_unknown_sender_is_401_and_not_kept(
    publisher: Any, cart: str
) -> None:
    body, content_type = CART_BODIES[cart]
    response = Client(raise_request_exception=False).generic(
        "POST",
        cart_url(cart, publisher, "wrong-token"),
        data=body,
        content_type=f"{content_type}; charset=rot13",
    )
    assert response.status_code == 401
    assert not InboundDelivery.objects.exists()


def test_stripe_webhook_answers_a_bad_charset_in_its_json(
    settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.STRIPE_SECRET_KEY = "sk_test_x"
    settings.STRIPE_WEBHOOK_SECRET = "whsec_x"
    response = Client(raise_request_exception=False).generic(
        "POST", "/payments/stripe/webhook", data=b"{}", content_type="application/json; charset=hex"
    )
    assert response.status_code == 415
    assert json.loads(response.content) == {"error": {"message": charset_message("hex")}}
    assert_one_log_line(caplog, 415, "/payments/stripe/webhook")


# --- pages: the site's styled 400 ----------------------------------------------------------


@pytest.mark.parametrize("path", ["/sign-in?next=/home", "/admin/login/?next=/admin/", "/health"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_pages_answer_a_bad_charset_with_the_styled_400(
    path: str, method: str, caplog: pytest.LogCaptureFixture
) -> None:
    response = Client(raise_request_exception=False).generic(
        method,
        path,
        data=b"email=a%40b.c" if method == "POST" else b"",
        CONTENT_TYPE=f"{FORM}; charset=base64",
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "<h1>Bad request</h1>" in page
    assert "The request could not be understood, so nothing was changed." in page
    assert response["Cache-Control"] == "no-store, private"
    assert_one_log_line(caplog, 415, path.split("?", maxsplit=1)[0])


def test_the_customer_page_answers_a_bad_charset_with_the_styled_400(
    publisher: Any, project: Any, caplog: pytest.LogCaptureFixture
) -> None:
    fields = order_fields(publisher, project, Invoice="PAGE-1")
    assert parse_submit_reply(Client().post(ORDER_URL, fields))["SUCCESS"] is True
    order = Order.objects.get()
    caplog.clear()
    path = f"/c/{order.customer_token}"
    response = Client(raise_request_exception=False).get(
        f"{path}?saved=1", CONTENT_TYPE=f"{FORM}; charset=punycode"
    )
    assert response.status_code == 400
    assert "<h1>Bad request</h1>" in response.content.decode()
    # The log line names the page, never the link's token.
    assert_one_log_line(caplog, 415, "/c/")
    assert order.customer_token not in caplog.text


@pytest.mark.parametrize("charset", TEXT_ENCODINGS)
def test_a_real_text_encoding_still_places_the_order(
    publisher: Any, project: Any, charset: str
) -> None:
    fields = urlencode(order_fields(publisher, project, Invoice=f"OK-{charset}"))
    response = Client().generic(
        "POST",
        ORDER_URL,
        data=fields.encode("ascii"),
        content_type=f"{FORM}; charset={charset}",
    )
    if charset == "utf-16":
        # A body that is not UTF-16 at all: read as such, the fields are gibberish.
        assert parse_submit_reply(response)["SUCCESS"] is False
        return
    assert parse_submit_reply(response)["SUCCESS"] is True
    assert Order.objects.get().invoice == f"OK-{charset}"


# --- chunked bodies ------------------------------------------------------------------------


def chunked(
    path: str, body: bytes, *, content_type: str = FORM, terminated: bool = True, **extra: Any
) -> Any:
    """POST `body` the way a WSGI server hands over a `Transfer-Encoding: chunked` request:
    no CONTENT_LENGTH, the de-chunked body on wsgi.input, and `wsgi.input_terminated` when
    the server reads it to its end (gunicorn does)."""
    environ: dict[str, Any] = {
        "HTTP_TRANSFER_ENCODING": "chunked",
        "CONTENT_LENGTH": "",
        "wsgi.input": io.BytesIO(body),
        **extra,
    }
    if terminated:
        environ["wsgi.input_terminated"] = True
    return Client(raise_request_exception=False).generic(
        "POST", path, content_type=content_type, **environ
    )


def test_a_chunked_gateway_order_is_read_and_placed(publisher: Any, project: Any) -> None:
    fields = urlencode(order_fields(publisher, project, Invoice="CHUNKED-1"))
    reply = parse_submit_reply(chunked(ORDER_URL, fields.encode()))
    assert reply["SUCCESS"] is True, reply
    assert reply["Invoice"] == "CHUNKED-1"
    assert Order.objects.get().invoice == "CHUNKED-1"


def test_a_chunked_cart_delivery_is_read_and_kept(publisher: Any) -> None:
    body = as_json(notification())
    response = chunked(
        cart_url("samcart", publisher, publisher.cart_token),
        body,
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    delivery = InboundDelivery.objects.get()
    assert (delivery.outcome, bytes(delivery.body), delivery.body_size) == (
        Outcome.PENDING,
        body,
        len(body),
    )


LENGTH_REQUIRED = (
    "The request body has no Content-Length and this server cannot read it to its end; "
    "send the body with a Content-Length header."
)


def test_a_chunked_body_the_server_cannot_give_is_411(
    publisher: Any, project: Any, caplog: pytest.LogCaptureFixture
) -> None:
    fields = urlencode(order_fields(publisher, project, Invoice="CHUNKED-2"))
    reply = parse_submit_reply(chunked(ORDER_URL, fields.encode(), terminated=False))
    assert reply == {
        "SUCCESS": False,
        "ERRCODE": "000048",
        "message": f"The request could not be read. {LENGTH_REQUIRED}",
    }
    assert not Order.objects.exists()
    assert_one_log_line(caplog, 411, ORDER_URL)

    response = chunked(
        cart_url("samcart", publisher, publisher.cart_token),
        as_json(notification()),
        content_type="application/json",
        terminated=False,
    )
    assert response.status_code == 411
    assert response.content.decode() == LENGTH_REQUIRED + "\n"
    delivery = InboundDelivery.objects.get()
    assert (delivery.outcome, delivery.reason, bytes(delivery.body)) == (
        Outcome.FAILED,
        LENGTH_REQUIRED,
        b"",
    )

    page = chunked("/sign-in", b"email=a", terminated=False)
    assert page.status_code == 400


def test_a_chunked_body_over_the_limit_is_413(publisher: Any) -> None:
    body = b"x" * (CHUNKED_BODY_LIMIT_BYTES + 1)
    response = chunked(
        cart_url("samcart", publisher, publisher.cart_token), body, content_type="application/json"
    )
    assert response.status_code == 413
    message = f"The request body is larger than {CHUNKED_BODY_LIMIT_BYTES} bytes."
    assert response.content.decode() == message + "\n"
    delivery = InboundDelivery.objects.get()
    assert (delivery.outcome, delivery.reason, bytes(delivery.body)) == (
        Outcome.FAILED,
        message,
        b"",
    )

    reply = parse_submit_reply(chunked(ORDER_URL, body))
    assert (reply["ERRCODE"], reply["message"]) == (
        "000046",
        f"The request is too large. {message}",
    )


def test_a_chunked_cart_body_over_1_mb_is_the_carts_own_413(publisher: Any) -> None:
    response = chunked(
        cart_url("samcart", publisher, publisher.cart_token),
        b"{" + b" " * 1_000_000 + b"}",
        content_type="application/json",
    )
    assert response.status_code == 413
    assert response.content == b"The body is larger than 1 MB.\n"


def test_a_cart_body_over_1_mb_is_read_to_its_end_before_the_413(publisher: Any) -> None:
    """The client sends its whole body before reading the answer: the endpoint reads it on
    (and drops it) so the client gets the 413 instead of a connection reset."""
    body = io.BytesIO(b"x" * 3_000_000)
    response = Client().generic(
        "POST",
        cart_url("samcart", publisher, publisher.cart_token),
        content_type="application/json",
        CONTENT_LENGTH="3000000",
        **{"wsgi.input": body},
    )
    assert response.status_code == 413
    assert body.tell() == 3_000_000


def test_the_refusal_never_logs_a_traceback_and_names_the_charset_safely(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A charset name with characters a log line must not carry as they are.
    Client(raise_request_exception=False).get(
        "/sign-in?x=1", CONTENT_TYPE=f'{FORM}; charset="rot13\u00e9<x>"'
    )
    (record,) = refusal_records(caplog)
    assert re.search(r"charset 'rot13\?<x>'", record.getMessage()), record.getMessage()


@pytest.mark.parametrize("charset", ["shift_jis", "iso-2022-jp", "euc-jp"])
def test_a_query_string_its_own_charset_cannot_read_is_a_styled_400(
    charset: str, caplog: pytest.LogCaptureFixture
) -> None:
    """`?%80` with `charset=shift_jis` was decoded to U+FFFD, which the admin's changelist
    could not encode back into Shift_JIS when it wrote its filter links: a 500."""
    from django.contrib.auth.models import User

    operator = User.objects.create_superuser("root", password="a long operator password")
    client = Client(raise_request_exception=False)
    client.force_login(operator)
    path = "/admin/carts/inbounddelivery/"
    response = client.get(f"{path}?%80", CONTENT_TYPE=f"{FORM}; charset={charset}")
    assert response.status_code == 400
    assert "<h1>Bad request</h1>" in response.content.decode()
    assert_one_log_line(caplog, 400, path)
    # The same charset with a query string it can read is served.
    response = client.get(f"{path}?q=abc", CONTENT_TYPE=f"{FORM}; charset={charset}")
    assert response.status_code == 200


@pytest.mark.parametrize("charset", ["shift_jis", "iso-2022-jp"])
def test_the_gateway_answers_a_query_string_its_charset_cannot_read_with_000048(
    publisher: Any, project: Any, charset: str, caplog: pytest.LogCaptureFixture
) -> None:
    """This refusal reached the gateway's own wording without an entry in it: a 500."""
    fields = urlencode(order_fields(publisher, project, Invoice="QS-1"))
    response = Client(raise_request_exception=False).get(
        f"{ORDER_URL}?{fields}&x=%80", CONTENT_TYPE=f"{FORM}; charset={charset}"
    )
    assert parse_submit_reply(response) == {
        "SUCCESS": False,
        "ERRCODE": "000048",
        "message": "The request could not be read. The query string is not valid "
        f"{charset} text; send UTF-8.",
    }
    assert not Order.objects.exists()
    assert_one_log_line(caplog, 400, ORDER_URL)


def test_the_status_call_answers_a_query_string_its_charset_cannot_read_with_its_xml(
    publisher: Any,
) -> None:
    query = urlencode({"function": "getOrderStatusByInvoice", "Invoice": "A-1"})
    response = Client(raise_request_exception=False).get(
        f"{STATUS_URL}?{query}&x=%80", CONTENT_TYPE=f"{FORM}; charset=shift_jis"
    )
    assert response.status_code == 200
    section = ET.fromstring(response.content).find("Status1")
    assert section is not None
    assert section.findtext("ErrorNum") == "400"
    assert section.findtext("ErrorDesc") == (
        "[ERRORMSGBEGIN]ERRCODE#000048 [FAILURE] The request could not be read. The query "
        "string is not valid shift_jis text; send UTF-8.[ERRORMSGEND]"
    )


def test_the_gateway_words_every_kind_of_refusal() -> None:
    from pressrun.core.request_hygiene import RefusalKind
    from pressrun.gateway.views import _REFUSAL_ERRORS

    assert set(_REFUSAL_ERRORS) == set(RefusalKind)
