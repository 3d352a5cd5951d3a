"""Property test: whatever Content-Type (charset or not), body and query string a request
carries, on every endpoint of the site, signed in or not, the answer is never a 5xx and
nothing is logged as an error (core/request_hygiene.py; before, `charset=rot13` and its
kind gave a 500 and a traceback on any URL with a query string)."""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import quote_from_bytes

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pressrun.orders.models import Order
from tests.conftest import PASSWORD
from tests.gateway.helpers import ORDER_URL, order_fields, parse_submit_reply

pytestmark = pytest.mark.django_db

CHARSETS = [
    "rot13",
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
    "no-such-charset",
    "utf-8",
    "UTF8",
    "windows-1252",
    "latin-1",
    "utf-16",
    "utf-32",
    "shift_jis",
    "cp037",
    "",
]
MEDIA_TYPES = [
    "application/x-www-form-urlencoded",
    "multipart/form-data",
    "multipart/form-data; boundary=xyz",
    "application/json",
    "text/xml",
    "text/plain",
    "",
]
# What a header can carry: latin-1 text without control characters (servers refuse those).
header_text = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=60,
)
content_types = st.one_of(
    st.builds(
        lambda media, charset, quoted: (
            f'{media}; charset="{charset}"' if quoted else f"{media}; charset={charset}"
        ),
        st.sampled_from(MEDIA_TYPES),
        st.one_of(st.sampled_from(CHARSETS), header_text),
        st.booleans(),
    ),
    st.sampled_from(MEDIA_TYPES),
    header_text,
)
bodies = st.one_of(
    st.binary(max_size=200),
    st.sampled_from(
        [
            b"a=1&b=%FF%FE&c=\xe9",
            b'{"order": {"id": "1"}}',
            b'--xyz\r\nContent-Disposition: form-data; name="a"\r\n\r\nb\r\n--xyz--\r\n',
            b'--xyz\r\nContent-Disposition: form-data; name="f"; filename="x"\r\n'
            b"Content-Type: text/plain; charset=rot13\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n!!!\r\n--xyz--\r\n",
        ]
    ),
)
query_strings = st.one_of(
    st.just(""),
    st.binary(max_size=60).map(lambda raw: quote_from_bytes(raw, safe="=&")),
    st.sampled_from(["a=1", "next=/home", "saved=1", "q=%FF%FE", "idpub=1&token=x"]),
)


def site_paths(substitutions: dict[str, str]) -> list[str]:
    """A concrete path for every URL pattern of the site outside the admin (whose own views
    are sampled separately)."""

    def walk(patterns: list[Any], prefix: str) -> list[str]:
        paths: list[str] = []
        for pattern in patterns:
            text = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                if not text.startswith("admin/"):
                    paths += walk(pattern.url_patterns, text)
            elif isinstance(pattern, URLPattern):
                for placeholder, value in substitutions.items():
                    text = text.replace(placeholder, value)
                # Any other id: 1 (a row that may or may not exist: both must answer < 500).
                text = re.sub(r"<int:\w+>", "1", text)
                text = re.sub(r"<str:\w+>", "x", text)
                assert "<" not in text, f"no value for {text}"
                assert "^" not in text, f"no value for {text}"
                paths.append("/" + text)
        return paths

    return walk(list(get_resolver().url_patterns), "")


@pytest.fixture
def fuzz_setup(make_publisher: Any, make_project: Any, settings: Any) -> dict[str, Any]:
    settings.STRIPE_SECRET_KEY = "sk_test_fuzz"
    settings.STRIPE_WEBHOOK_SECRET = "whsec_fuzz"
    publisher = make_publisher(balance="100")
    project = make_project(publisher)
    placed = Client().post(ORDER_URL, order_fields(publisher, project, Invoice="FUZZ-1"))
    assert parse_submit_reply(placed)["SUCCESS"] is True
    order = Order.objects.get()
    paths = site_paths(
        {
            "<str:token>": publisher.cart_token,
            "<str:encoded_id>": "MQ",
            "<int:order_id>": str(order.id),
            "<int:project_id>": str(project.id),
            "^(?P<token>[A-Za-z0-9_-]{16,64})$": order.customer_token,
        }
    )
    paths += [
        "/admin/",
        "/admin/login/",
        "/admin/carts/inbounddelivery/",
        f"/admin/orders/order/{order.id}/change/",
        "/no-such-page",
    ]
    anonymous = Client(raise_request_exception=False)
    signed_in = Client(raise_request_exception=False)
    response = signed_in.post("/sign-in", {"email": publisher.email, "password": PASSWORD})
    assert response.status_code == 302
    operator = Client(raise_request_exception=False)
    operator.force_login(User.objects.create_superuser("fuzz-operator", "op@example.com", "x"))
    return {"paths": paths, "clients": [anonymous, signed_in, operator]}


def test_every_url_pattern_is_fuzzed(fuzz_setup: dict[str, Any]) -> None:
    paths = fuzz_setup["paths"]
    assert len(paths) >= 45
    for expected in (
        "/gateway/order",
        "/gateway/status",
        "/carts/samcart",
        "/health",
        "/healthz",
        "/readyz",
        "/metrics",
    ):
        assert expected in paths


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_no_request_is_answered_with_a_5xx(
    fuzz_setup: dict[str, Any], caplog: pytest.LogCaptureFixture, data: st.DataObject
) -> None:
    path = data.draw(st.sampled_from(fuzz_setup["paths"]), label="path")
    query = data.draw(query_strings, label="query")
    method = data.draw(st.sampled_from(["GET", "POST", "HEAD", "PUT"]), label="method")
    content_type = data.draw(content_types, label="content_type")
    body = data.draw(bodies, label="body") if method in ("POST", "PUT") else b""
    client = data.draw(st.sampled_from(fuzz_setup["clients"]), label="client")
    seen = len(caplog.records)
    response = client.generic(
        method,
        path + (f"?{query}" if query else ""),
        data=body,
        content_type=content_type,
        CONTENT_TYPE=content_type,
    )
    # /readyz answers 503 by design while the installation is not ready: no worker runs
    # here (its checks have their own tests, tests/monitoring/test_probes.py).
    not_ready = path == "/readyz" and response.status_code == 503
    assert response.status_code < 500 or not_ready, (response.status_code, response.content[:300])
    errors = [r for r in caplog.records[seen:] if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]
