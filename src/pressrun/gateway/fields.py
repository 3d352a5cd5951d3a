"""Reading a gateway request into one case-insensitive field dictionary.

Publishers' scripts are old and varied: fields arrive in the query string, in a form body or
both, in any letter case (the gateway document itself writes both `nprice` and `nPrice`), in
UTF-8 or in Windows-1252. This module turns all of that into `{lower-case name: text}` or
refuses the request with a gateway error; it never raises anything else.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent
from django.http import HttpRequest
from django.http.multipartparser import MultiPartParserError
from django.utils.http import parse_header_parameters

from pressrun.core.request_hygiene import text_encoding
from pressrun.core.text import CONTROL_CHARACTERS, LINE_BREAKS
from pressrun.gateway import errors
from pressrun.gateway.errors import GatewayError

MAX_FIELD_LENGTH = 2000
MAX_FIELDS = 200
# How much of an over-large body is read (and dropped) so the client gets its reply.
_DISCARD_LIMIT = 16 * 1024 * 1024
# Refused in every field: control characters (tabs excepted). Refused in every field but
# SpecialText, whose lines are kept: line breaks. A line break in `Invoice` would otherwise
# reach the `[SUCCESS]` reply, where a forged "Status: SHIPPED" line could precede the real
# one (core/text.py).
_CONTROL = CONTROL_CHARACTERS
_LINE_BREAK = LINE_BREAKS
MULTI_LINE_FIELDS = frozenset({"specialtext"})


class GatewayFailure(Exception):
    """Refuse the request with `error`; `detail` (if any) follows the error's summary."""

    def __init__(self, error: GatewayError, detail: str = "") -> None:
        super().__init__(f"{error.code} {error.summary} {detail}".strip())
        self.error = error
        self.detail = detail


def _raw_query_string(request: HttpRequest) -> bytes:
    query = request.META.get("QUERY_STRING", "")
    try:
        # WSGI hands the query string over as latin-1 text; this gives back its bytes.
        return str(query).encode("latin-1")
    except UnicodeEncodeError:
        return str(query).encode("utf-8")


def _charset(request: HttpRequest) -> str | None:
    """The body's declared charset, as Django reads the header; None when it declares none.

    A charset that is no text encoding never gets here (core.request_hygiene refuses the
    request first); should one, it is refused all the same.
    """
    _, params = parse_header_parameters(str(request.META.get("CONTENT_TYPE", "")))
    if "charset" not in params:
        return None
    charset = text_encoding(params["charset"])
    if charset is None:
        raise GatewayFailure(errors.CHARSET_UNSUPPORTED)
    return charset


def _decode(raw: bytes, charset: str | None) -> str:
    """Decode a field's bytes as the sender meant them."""
    if charset and charset not in {"utf-8", "ascii"}:
        return raw.decode(charset, errors="replace")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        # Classic ASP and PHP scripts often send Windows-1252 ("Jos\xe9").
        return raw.decode("cp1252", errors="replace")


def _unquoted(text: bytes) -> bytes:
    """A form's name or value as bytes: `+` is a space and `%XX` the byte XX (in either
    letter case); a `%` not followed by two hex digits stays as it is. Byte for byte what
    `urllib.parse.unquote_plus` reads (with the latin-1 encoding, which keeps every byte),
    without its Python loop over every escape.

    A status call's invoice list (`[*|*]` between invoices) holds hundreds of escapes: they
    are rewritten as Python's `\\xXX` escapes (the text's own backslashes escaped first) and
    decoded in one pass of the `unicode_escape` codec, whose code points are the bytes. A
    `%` that does not start an escape makes the codec refuse the text, which then goes
    through `unquote_to_bytes`."""
    text = text.replace(b"+", b" ")
    if b"%" not in text:
        return text
    escaped = text.replace(b"\\", b"\\\\").replace(b"%", b"\\x")
    try:
        return escaped.decode("unicode_escape").encode("latin-1")
    except UnicodeDecodeError:
        return unquote_to_bytes(text)


def _pairs(raw: bytes, charset: str | None) -> list[tuple[str, str]]:
    """The (name, value) pairs of an urlencoded query string or body, in order, as
    `urllib.parse.parse_qsl` reads them with blank values kept (a field without `=` has a
    blank value; an empty one between two `&` is no field), each decoded by `_decode`."""
    if len(raw) > settings.GATEWAY_MAX_BODY_BYTES:
        raise GatewayFailure(errors.REQUEST_TOO_LARGE)
    if raw and raw.count(b"&") >= MAX_FIELDS:
        raise GatewayFailure(errors.REQUEST_MALFORMED, f"Too many fields (over {MAX_FIELDS}).")
    pairs = []
    for field in raw.split(b"&"):
        if field:
            key, _, value = field.partition(b"=")
            pairs.append((_decode(_unquoted(key), charset), _decode(_unquoted(value), charset)))
    return pairs


def _body_pairs(request: HttpRequest) -> list[tuple[str, str]]:
    if request.method != "POST":
        return []
    content_type = request.META.get("CONTENT_TYPE", "").lower()
    try:
        body = request.body
        # The web server hands over what arrived when the client stopped sending early; a
        # cut-off body must not become an order with a cut-off address.
        if len(body) < int(request.META.get("CONTENT_LENGTH") or 0):
            raise GatewayFailure(
                errors.REQUEST_MALFORMED,
                "The body is shorter than its Content-Length: the request was cut off.",
            )
        if content_type.startswith("multipart/"):
            return [(key, value) for key, values in request.POST.lists() for value in values]
        return _pairs(body, _charset(request))
    except (RequestDataTooBig, TooManyFieldsSent) as exc:
        _discard_body(request)
        raise GatewayFailure(errors.REQUEST_TOO_LARGE) from exc
    except (MultiPartParserError, SuspiciousOperation, UnicodeDecodeError, ValueError) as exc:
        raise GatewayFailure(errors.REQUEST_MALFORMED) from exc


def _discard_body(request: HttpRequest) -> None:
    """Read and drop the rest of a refused body, up to a limit.

    Clients send the whole body before they read the reply; closing the connection with
    their data unread makes the kernel reset it, and they would see a broken pipe instead
    of the gateway's "too large" reply.
    """
    remaining = _DISCARD_LIMIT
    try:
        while remaining > 0:
            chunk = request.read(min(65_536, remaining))
            if not chunk:
                return
            remaining -= len(chunk)
    except OSError:
        return


def read_fields(request: HttpRequest) -> dict[str, str]:
    """All fields of the query string and body, keyed by lower-case name.

    Refuses (GatewayFailure) an over-long request or field, control characters, a line break
    in any field but SpecialText, and a field given twice with different values.
    """
    pairs = _pairs(_raw_query_string(request), None) + _body_pairs(request)
    fields: dict[str, str] = {}
    for raw_key, value in pairs:
        key = raw_key.strip().lower()
        if not key:
            continue
        if len(value) > MAX_FIELD_LENGTH:
            raise GatewayFailure(
                errors.FIELD_TOO_LONG, f"Field '{key[:40]}' is over {MAX_FIELD_LENGTH} characters."
            )
        if _LINE_BREAK.search(key) or (key not in MULTI_LINE_FIELDS and _LINE_BREAK.search(value)):
            raise GatewayFailure(
                errors.LINE_BREAK,
                f"Field '{_printable(key)}'. Only SpecialText may have several lines.",
            )
        if _CONTROL.search(value) or _CONTROL.search(key):
            raise GatewayFailure(errors.CONTROL_CHARACTERS, f"Field '{_printable(key)}'.")
        earlier = fields.get(key)
        if earlier is not None and earlier != value:
            raise GatewayFailure(errors.FIELD_REPEATED, f"Field '{key[:40]}'.")
        fields[key] = value
    return fields


def _printable(text: str) -> str:
    return _LINE_BREAK.sub("?", _CONTROL.sub("?", text))[:40]
