"""Secrets never reach a log (core/log_redaction.py): every record of the process is
redacted as it is made, whichever logger and handler.

Before: with the access log on, `GET /gateway/status?...&CoLoginPassword=…` was logged as
sent, and cart tokens appeared in access and error logs."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from pressrun.core.log_redaction import (
    REDACTED,
    RedactSecretsFilter,
    install_record_redaction,
    redact,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '"GET /gateway/status?function=getOrderStatusByInvoice&CoLoginEmail=a%40b.com'
            '&CoLoginPassword=hunter2&Invoice=A1 HTTP/1.1" 200 310',
            '"GET /gateway/status?function=getOrderStatusByInvoice&CoLoginEmail=a%40b.com'
            '&CoLoginPassword=[redacted]&Invoice=A1 HTTP/1.1" 200 310',
        ),
        ("cologinpassword=x y", "cologinpassword=[redacted] y"),
        ("CoLogin%50assword=hunter2", "CoLogin%50assword=[redacted]"),
        (
            "POST /carts/samcart?idpub=12&token=Zt9x-abc_DEF HTTP/1.1",
            "POST /carts/samcart?idpub=12&token=[redacted] HTTP/1.1",
        ),
        ("POST /carts/shopify/Zt9x-abc_DEF?idpub=12", "POST /carts/shopify/[redacted]?idpub=12"),
        ("/carts/1shoppingcart/Zt9x?TSPub=3", "/carts/1shoppingcart/[redacted]?TSPub=3"),
        ("GET /c/q3Bz-9kLmN0pQrStUvWx HTTP/1.1", "GET /c/[redacted] HTTP/1.1"),
        ("refused: POST /carts/samcart/Zt9x: bad", "refused: POST /carts/samcart/[redacted]: bad"),
        ('"http://shop.example/c/q3Bz-9kLmN0pQrStUvWx"', '"http://shop.example/c/[redacted]"'),
        ("/password-reset/MTI/cbk1-8f2e9a", "/password-reset/MTI/[redacted]"),
        ("X-Shopify-Hmac-Sha256: 3q2+7w==", "X-Shopify-Hmac-Sha256: [redacted]"),
        ("Stripe-Signature: t=1,v1=abc", "Stripe-Signature: [redacted]"),
        ("Authorization: Bearer abc.def", "Authorization: [redacted]"),
        ("Cookie: sessionid=abc; csrftoken=def", "Cookie: [redacted]"),
        ("{'X-Shopify-Hmac-Sha256': 'abc=', 'Accept': '*/*'}", None),
        ('{"api_key": "k-123", "name": "Ann"}', '{"api_key": "[redacted]", "name": "Ann"}'),
        ("<Request><Key>merchant-key</Key></Request>", "<Request><Key>[redacted]</Key></Request>"),
        ("key sk_live_51Habc and whsec_9xyZ", "key [redacted] and [redacted]"),
        # Kept: what is no secret, so requests can still be traced.
        ("TSErrEM=ops%40label.example&TSPub=3", "TSErrEM=ops%40label.example&TSPub=3"),
        ("POST /gateway/order HTTP/1.1 200", "POST /gateway/order HTTP/1.1 200"),
        ("KeyError: 'cologinemail'", "KeyError: 'cologinemail'"),
        ("delivery 12: database error (attempt 2)", "delivery 12: database error (attempt 2)"),
    ],
)
def test_redact(text: str, expected: str | None) -> None:
    if expected is None:
        assert redact(text) == "{'X-Shopify-Hmac-Sha256': '[redacted]', 'Accept': '*/*'}"
    else:
        assert redact(text) == expected


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger of its own with a plain handler that pressrun did not configure."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    logger = logging.getLogger("tests.redaction.somewhere")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def test_every_record_of_the_process_is_redacted_whatever_its_handler(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    """Django's setup (LOGGING_CONFIG) installed the redaction for every logger: here one
    with a handler nobody configured, used the way a web server's access log is (the
    granian front's `pressrun.web.access` logs its request line exactly so)."""
    logger, stream = captured
    logger.info(
        '%s "%s %s HTTP/%s" %d %d %.1fms',
        "127.0.0.1",
        "GET",
        "/gateway/status?function=getOrderStatusByInvoice&CoLoginPassword=hunter2&Invoice=A",
        "1.1",
        200,
        310,
        1.5,
    )
    logger.info("%(h)s %(r)s", {"h": "127.0.0.1", "r": "POST /carts/samcart?idpub=1&token=t0k"})
    assert stream.getvalue() == (
        'tests.redaction.somewhere INFO 127.0.0.1 "GET /gateway/status?function='
        'getOrderStatusByInvoice&CoLoginPassword=[redacted]&Invoice=A HTTP/1.1" 200 310 1.5ms\n'
        "tests.redaction.somewhere INFO 127.0.0.1 POST /carts/samcart?idpub=1&token=[redacted]\n"
    )


def test_tracebacks_are_redacted_too(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    try:
        raise ValueError("could not read /carts/shopify/t0k3n-s3cr3t?password=hunter2")
    except ValueError:
        logger.exception("failed on %s", "/c/q3Bz-9kLmN0pQrStUvWx")
    output = stream.getvalue()
    assert "Traceback" in output
    assert "ValueError: could not read /carts/shopify/[redacted]?password=[redacted]" in output
    for secret in ("t0k3n-s3cr3t", "hunter2", "q3Bz-9kLmN0pQrStUvWx"):
        assert secret not in output


def test_the_installation_is_idempotent_and_the_filter_does_the_same() -> None:
    factory = logging.getLogRecordFactory()
    install_record_redaction()
    assert logging.getLogRecordFactory() is factory
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "token=%s", ("abc",), None)
    # A record made without the factory (e.g. unpickled from another process).
    assert RedactSecretsFilter().filter(record) is True
    assert record.getMessage() == f"token={REDACTED}"
