"""Request hygiene: what every request must satisfy before any code reads its data.

Two things about a request's framing can break Django's own reading of it, before any view
could answer in its channel's format:

- **The charset.** Django decodes the query string and form bodies with the charset named in
  `Content-Type`, whatever codec that names: `charset=rot13` (or base64, zlib, punycode…)
  raised from deep inside `request.GET` and gave a 500 with a traceback, on any URL with a
  query string. Only real text encodings are honoured (`text_encoding`); any other name,
  unknown ones included, refuses the request.
- **The body's length.** A body sent with `Transfer-Encoding: chunked` has no
  `Content-Length`, and Django reads such a body as empty (the gateway then answered
  "Invalid access", a cart delivery was stored empty and failed). When the web server hands
  the whole chunked body over (`wsgi.input_terminated`; `pressrun serve`'s front even
  de-chunks it and sets its length), it is read here,
  up to `CHUNKED_BODY_LIMIT_BYTES`, and Django sees an ordinary body with its length; when the
  server cannot, the request is refused with 411 (Length Required).

Django itself picks the charset while it builds the request (`HttpRequest.
_set_content_type_params`, which takes any name `codecs.lookup` knows), and with a query
string already decodes it there: the crash happened before any middleware ran. So
`honour_only_text_encodings`, installed when the core app is ready, makes Django take a
charset only when it is a real text encoding and ignore any other name, as it already ignores
unknown ones; the request is then built without fail, and refused below.

`RequestHygieneMiddleware`, first in the chain, checks both. A refused request never reaches
its view: the middleware logs one line and answers with the view's own refusal format, which
a view declares with `@refusals_answered_by(handler)` (the gateway: its `[FAILURE]` text; the
status call: its XML; the carts: a plain-text 4xx, stored in the delivery log when the sender
checks out; Stripe's webhook: its JSON error). Every other view (the dashboard, the
customer page, the admin) gets the site's styled 400 page (`handler400`).
"""

from __future__ import annotations

import codecs
import enum
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar
from urllib.parse import unquote_to_bytes

from django.core.handlers.wsgi import LimitedStream
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.urls import get_resolver
from django.utils.http import parse_header_parameters

logger = logging.getLogger(__name__)

# The largest body any endpoint takes is a cart delivery's 1 MB. A chunked body is read up to
# this much, so that an endpoint's own, smaller limit answers in its own words; beyond it the
# request is refused here with 413.
CHUNKED_BODY_LIMIT_BYTES = 2 * 1024 * 1024
# How much of a refused body is read and thrown away, so that a client which sends its whole
# body before reading the answer gets the answer instead of a connection reset.
DISCARD_LIMIT_BYTES = 16 * 1024 * 1024
_READ_BLOCK_BYTES = 64 * 1024
# Codecs Python calls text encodings that are no character set a request can be written in:
# IDNA and Punycode encode host names (and raise on ordinary text), the escape codecs read
# backslash sequences, "undefined" refuses everything, and UTF-7 is refused by every browser
# (WHATWG Encoding Standard) because it smuggles markup past filters.
_NOT_CHARSETS = frozenset(
    {"idna", "punycode", "undefined", "unicode-escape", "raw-unicode-escape", "charmap", "utf-7"}
)
_ATTRIBUTE = "answer_request_refusal"


def text_encoding(name: str) -> str | None:
    """The codec name of `name` when it is a real text encoding (UTF-8, Windows-1252,
    ISO-8859-x, Shift_JIS…), else None (unknown names, and codecs such as rot13, base64,
    zlib, hex, uu, quopri, punycode or idna)."""
    try:
        info = codecs.lookup(name.strip())
    except (LookupError, ValueError, TypeError):
        return None
    # `_is_text_encoding` is False for the bytes-to-bytes and str-to-str codecs (base64,
    # zlib, rot13…); it is the marker `str.encode` and `bytes.decode` themselves check.
    if not getattr(info, "_is_text_encoding", True) or info.name in _NOT_CHARSETS:
        return None
    return info.name


def _set_content_type_params(self: HttpRequest, meta: dict[str, Any]) -> None:
    """Django's `HttpRequest._set_content_type_params` (content_type, content_params and
    encoding from the Content-Type header), taking the charset as the encoding only when it
    is a real text encoding. Django 5.2's own version takes any codec, and setting a request's
    encoding decodes its query string at once: `charset=rot13` raised while the request was
    being built."""
    self.content_type, self.content_params = parse_header_parameters(meta.get("CONTENT_TYPE", ""))
    charset = self.content_params.get("charset")
    if charset is not None and text_encoding(charset) is not None:
        self.encoding = charset


def honour_only_text_encodings() -> None:
    """Install `_set_content_type_params` in Django's HttpRequest (CoreConfig.ready)."""
    HttpRequest._set_content_type_params = _set_content_type_params  # type: ignore[attr-defined]


class RefusalKind(enum.Enum):
    CHARSET = "charset"
    LENGTH_REQUIRED = "length_required"
    TOO_LARGE = "too_large"
    QUERY_ENCODING = "query_encoding"


@dataclass(frozen=True)
class RequestRefusal:
    """Why a request is refused before its view runs: the HTTP status a plain answer uses,
    and a message for the sender."""

    kind: RefusalKind
    status: int
    message: str


def _printable(text: str, limit: int = 40) -> str:
    return "".join(c if c.isprintable() and c.isascii() else "?" for c in text[:limit])


def charset_refusal(content_type: str) -> RequestRefusal | None:
    """A refusal when `content_type` names a charset that is not a text encoding (read the
    way Django reads it, so both agree on what the charset is)."""
    _, params = parse_header_parameters(content_type)
    if "charset" not in params:
        return None
    name = params["charset"]
    if text_encoding(name) is not None:
        return None
    return RequestRefusal(
        RefusalKind.CHARSET,
        415,
        f"The Content-Type charset '{_printable(name)}' is not a text encoding this service "
        "reads; send UTF-8.",
    )


def query_refusal(request: HttpRequest) -> RequestRefusal | None:
    """A refusal when the query string is not valid text in the request's own charset.

    Django decodes a query string leniently (an invalid byte becomes U+FFFD), and code that
    writes it back — the admin keeps a changelist's filters in its links — encodes it again
    with the same charset: with UTF-8 that works, but Shift_JIS or ISO-2022-JP cannot encode
    U+FFFD, and `?%80` with `charset=shift_jis` raised from inside the admin. A request whose
    query string its own charset cannot read is refused instead.
    """
    encoding = getattr(request, "encoding", None)
    if not encoding or codecs.lookup(encoding).name == "utf-8":
        return None
    raw = str(request.META.get("QUERY_STRING", ""))
    try:
        unquote_to_bytes(raw.replace("+", " ")).decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return RequestRefusal(
            RefusalKind.QUERY_ENCODING,
            400,
            f"The query string is not valid {_printable(encoding)} text; send UTF-8.",
        )
    return None


def _is_chunked(request: HttpRequest) -> bool:
    codings = str(request.META.get("HTTP_TRANSFER_ENCODING", "")).lower().split(",")
    return codings[-1].strip() == "chunked"


def discard_body(stream: Any, budget: int = DISCARD_LIMIT_BYTES) -> None:
    """Read and drop up to `budget` more bytes of `stream`; stops at its end or an error."""
    try:
        while budget > 0:
            chunk = stream.read(min(_READ_BLOCK_BYTES, budget))
            if not chunk:
                return
            budget -= len(chunk)
    except OSError:
        return


def _read_chunked_body(request: HttpRequest) -> RequestRefusal | None:
    """Give Django the body of a chunked request (whose length is unknown), or refuse it.

    Django reads `CONTENT_LENGTH` bytes of `wsgi.input`, so without a length it reads none.
    The server hands over the whole de-chunked body only when it says so
    (`wsgi.input_terminated`); then it is read here and put back with its length.
    """
    environ = request.META
    if str(environ.get("CONTENT_LENGTH") or "").strip() or not _is_chunked(request):
        return None
    if not environ.get("wsgi.input_terminated"):
        return RequestRefusal(
            RefusalKind.LENGTH_REQUIRED,
            411,
            "The request body has no Content-Length and this server cannot read it to its "
            "end; send the body with a Content-Length header.",
        )
    stream = environ["wsgi.input"]
    parts: list[bytes] = []
    size = 0
    try:
        while size <= CHUNKED_BODY_LIMIT_BYTES:
            chunk = stream.read(_READ_BLOCK_BYTES)
            if not chunk:
                break
            parts.append(chunk)
            size += len(chunk)
    except OSError:
        return RequestRefusal(
            RefusalKind.LENGTH_REQUIRED, 411, "The chunked request body could not be read."
        )
    if size > CHUNKED_BODY_LIMIT_BYTES:
        discard_body(stream, DISCARD_LIMIT_BYTES - size)
        return RequestRefusal(
            RefusalKind.TOO_LARGE,
            413,
            f"The request body is larger than {CHUNKED_BODY_LIMIT_BYTES} bytes.",
        )
    body = b"".join(parts)
    environ["CONTENT_LENGTH"] = str(len(body))
    # WSGIRequest built its stream from the length it saw (none): replace it with the body.
    request._stream = LimitedStream(io.BytesIO(body), len(body))  # type: ignore[assignment]
    return None


def request_refusal(request: HttpRequest) -> RequestRefusal | None:
    """Why `request` must be refused before any code reads its data, or None. Reads a
    chunked body into the request as a side effect (see `_read_chunked_body`)."""
    framing = _read_chunked_body(request)
    return (
        framing
        or charset_refusal(str(request.META.get("CONTENT_TYPE", "")))
        or query_refusal(request)
    )


class RefusalHandler(Protocol):
    def __call__(
        self, request: HttpRequest, refusal: RequestRefusal, /, *args: Any, **kwargs: Any
    ) -> HttpResponseBase: ...


View = TypeVar("View", bound=Callable[..., Any])


def refusals_answered_by(handler: RefusalHandler) -> Callable[[View], View]:
    """Declare how a view answers a request refused by `RequestHygieneMiddleware`:
    `handler(request, refusal, *view_args, **view_kwargs)` returns the response. The request's
    query string can be read (as UTF-8) in the handler; its body as raw bytes only."""

    def decorate(view: View) -> View:
        setattr(view, _ATTRIBUTE, handler)
        return view

    return decorate


class RequestHygieneMiddleware:
    """Check every request's charset and body framing before any other code reads it (first
    in MIDDLEWARE); answer a refused one in its view's format, with one log line."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        refusal = request_refusal(request)
        if refusal is not None:
            request.request_refusal = refusal  # type: ignore[attr-defined]
        return self.get_response(request)

    def process_view(
        self,
        request: HttpRequest,
        view: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> HttpResponseBase | None:
        refusal: RequestRefusal | None = getattr(request, "request_refusal", None)
        if refusal is None:
            return None
        logger.warning(
            "request refused (%d): %s %s: %s",
            refusal.status,
            _printable(request.method or "", 10),
            _printable(request.path, 200),
            refusal.message,
        )
        handler: RefusalHandler | None = getattr(view, _ATTRIBUTE, None)
        if handler is not None:
            return handler(request, refusal, *args, **kwargs)
        return _styled_bad_request(request, refusal)


class _RefusedRequest(Exception):
    def __init__(self, refusal: RequestRefusal) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal


def _styled_bad_request(request: HttpRequest, refusal: RequestRefusal) -> HttpResponse:
    """The site's own 400 page (`handler400`: the dashboard's look), as Django renders it for
    a bad request."""
    resolver = get_resolver(getattr(request, "urlconf", None))
    handler: Callable[..., HttpResponse] = resolver.resolve_error_handler(400)
    return handler(request, _RefusedRequest(refusal))
