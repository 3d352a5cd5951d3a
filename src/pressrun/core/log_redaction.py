"""Secrets never reach a log: every log record is redacted as it is made.

What is redacted (replaced by `[redacted]`), wherever it appears in a message, its arguments,
its traceback or its stack:

- the value of every URL query or form parameter, header, JSON/dict key or XML element whose
  name says it is a secret: it contains password, passwd, pwd, token, secret, signature,
  hmac, key, auth, cookie, session or csrf, in any case and with `-` or `_` (CoLoginPassword,
  token, key, api_key, X-Shopify-Hmac-Sha256, Stripe-Signature, Authorization, Cookie…);
- the tokens carried in URL paths: the customer's link `/c/<token>`, the cart URLs
  `/carts/<cart>/<token>`, the password-reset link `/password-reset/<id>/<token>`;
- Stripe's key shapes (`sk_live_…`, `rk_test_…`, `whsec_…`) anywhere.

What is kept: the rest of the request line (method, path, the other parameters, status,
size), so a request can still be traced; email addresses (CoLoginEmail, TSErrEM) identify an
account or a mailbox and grant nothing.

How it applies to every handler: `install_record_redaction` wraps Python's log record factory,
so every record any logger makes in the process is redacted before any handler or formatter
sees it: Django's and pressrun's loggers, the web server's access and error logs
(`pressrun serve`'s `pressrun.web.access`, or any server logging through Python), the
task worker's. Settings name `configure_logging` as Django's LOGGING_CONFIG, so it is installed
in every process that sets Django up (`pressrun serve`, its worker processes, `pressrun
worker`, every command). `RedactSecretsFilter` does the same as a logging filter, for a
handler an operator configures outside pressrun.
"""

from __future__ import annotations

import logging
import logging.config
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

REDACTED = "[redacted]"
SECRET_NAME_WORDS = (
    "password",
    "passwd",
    "pwd",
    "token",
    "secret",
    "signature",
    "hmac",
    "key",
    "auth",
    "cookie",
    "session",
    "csrf",
)

# name=value in a query string, a form body or a cookie header. The name starts after a
# character that cannot be part of it; the value runs to the next separator.
_PAIR = re.compile(r"(?<![\w.%\[\]-])([\w.%\[\]-]{1,100})=([^&;\s\"'<>#,]*)")
# "name": "value" / 'name': 'value' (JSON, Python dict reprs); the value may be any string.
_QUOTED_PAIR = re.compile(r"([\"'])([\w.\[\] -]{1,100})\1(\s*:\s*)([\"'])(.*?)(?<!\\)\4")
# Name: value as in a header line; the value runs to the end of the line (or a quote).
_HEADER = re.compile(r"(?<![\w-])([A-Za-z][\w-]{0,100})(:[ \t]*)([^\r\n\"']+)")
# <Name>value</Name> in XML (1ShoppingCart's API request carries its key that way).
_XML_ELEMENT = re.compile(r"<([A-Za-z][\w.-]{0,100})>([^<]*)</\1>")
# Tokens in pressrun's own URL paths (a segment ends at a separator of the URL or of the
# text around it: "…/c/<token>: refused").
_SEGMENT = r"[^/?#\s\"'<>:;,]+"
_PATH_TOKENS = (
    re.compile(rf"(/c/){_SEGMENT}"),
    re.compile(rf"(/carts/[A-Za-z0-9]+/){_SEGMENT}"),
    re.compile(rf"(/password-reset/{_SEGMENT}/){_SEGMENT}"),
)
# Stripe's secret, restricted and webhook-signing keys.
_KEY_SHAPES = re.compile(r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]+|\bwhsec_[A-Za-z0-9+/=]+")


def is_secret_name(name: str) -> bool:
    """Whether a parameter, header or field called `name` holds a secret."""
    folded = unquote(name).lower().replace("-", "").replace("_", "")
    return any(word in folded for word in SECRET_NAME_WORDS)


def _pair(match: re.Match[str]) -> str:
    name = match.group(1)
    if not match.group(2) or not is_secret_name(name):
        return match.group(0)
    return f"{name}={REDACTED}"


def _quoted_pair(match: re.Match[str]) -> str:
    quote, name, colon, value_quote, _ = match.groups()
    if not is_secret_name(name):
        return match.group(0)
    return f"{quote}{name}{quote}{colon}{value_quote}{REDACTED}{value_quote}"


# "KeyError: 'x'" in a traceback is no header: exception names keep their message.
_NOT_HEADERS = ("Error", "Exception", "Warning")


def _header(match: re.Match[str]) -> str:
    name, colon, value = match.groups()
    if not is_secret_name(name) or name.endswith(_NOT_HEADERS) or value.startswith(REDACTED):
        return match.group(0)
    return f"{name}{colon}{REDACTED}"


def _xml_element(match: re.Match[str]) -> str:
    name = match.group(1)
    if not is_secret_name(name):
        return match.group(0)
    return f"<{name}>{REDACTED}</{name}>"


def redact(text: str) -> str:
    """`text` with every secret it carries replaced by `[redacted]` (see the module's list)."""
    if not text:
        return text
    text = _KEY_SHAPES.sub(REDACTED, text)
    for pattern in _PATH_TOKENS:
        text = pattern.sub(lambda match: match.group(1) + REDACTED, text)
    text = _PAIR.sub(_pair, text)
    text = _QUOTED_PAIR.sub(_quoted_pair, text)
    text = _XML_ELEMENT.sub(_xml_element, text)
    return _HEADER.sub(_header, text)


def redact_record(record: logging.LogRecord) -> None:
    """Redact a record in place: its message (with the arguments merged in), its traceback
    and its stack. A record whose message cannot be built is left for the handler to report."""
    try:
        message = record.getMessage()
    except Exception:  # a malformed call; logging's own error handling reports it
        return
    record.msg = redact(message)
    record.args = None
    if record.exc_info and not record.exc_text:
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


class RedactSecretsFilter(logging.Filter):
    """The same redaction as a logging filter (for handlers configured outside pressrun)."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


_FACTORY_MARK = "pressrun_redacts_secrets"


def install_record_redaction() -> None:
    """Make every log record of this process redacted as it is created (idempotent)."""
    current: Callable[..., logging.LogRecord] = logging.getLogRecordFactory()
    if getattr(current, _FACTORY_MARK, False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = current(*args, **kwargs)
        redact_record(record)
        return record

    setattr(factory, _FACTORY_MARK, True)
    logging.setLogRecordFactory(factory)


def configure_logging(logging_settings: dict[str, Any]) -> None:
    """Django's LOGGING_CONFIG: redaction first, then the LOGGING dictionary."""
    install_record_redaction()
    if logging_settings:
        logging.config.dictConfig(logging_settings)
