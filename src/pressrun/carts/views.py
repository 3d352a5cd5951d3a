"""Cart webhook entry points: check who sent it, store, queue, answer.

Who may send what (docs/carts/*.md, "Which URL"):
- Shopify: the URL token, or, without one, the HMAC signature under the publisher's saved
  webhook signing key (checked in constant time before the body is parsed);
- SamCart, which signs nothing: the URL token, always;
- 1ShoppingCart: the publisher ID alone (the spec's URL). Its notification names only an
  order id, which is then read from 1ShoppingCart's API with the publisher's own key, so a
  forged one can at most make pressrun read a real order of that publisher again, which is
  deduplicated. A token, when given, must still be right.

Nothing is processed here: the request is kept as an InboundDelivery and a task turns it into
an order, so the cart gets its answer well within its timeout (Shopify: 5 s).

What is stored: every request whose sender checks out, refused ones included (too large,
unreadable, a charset that is no text encoding, a body of unknown length), as a failed
delivery the publisher sees in the log; nothing from a sender that does not check out (401),
nor a request over the rate limit (429, carts/rate_limit.py).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from functools import partial

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from pressrun.accounts.models import Publisher
from pressrun.carts.models import Cart
from pressrun.carts.oneshoppingcart import parse as oneshoppingcart_parse
from pressrun.carts.oneshoppingcart.process import delivery_refused_email
from pressrun.carts.rate_limit import (
    cart_deliveries_per_minute,
    cart_rate_take,
    cart_unverified_per_minute,
    publisher_scope,
    unverified_scope,
)
from pressrun.carts.samcart import parse as samcart_parse
from pressrun.carts.services import SIGNATURE_MISMATCH, SIGNATURE_MISSING, delivery_receive
from pressrun.carts.shopify.parse import PayloadInvalid, external_key, load_order
from pressrun.carts.shopify.verify import signature_valid
from pressrun.core.client_address import client_address, throttle_address
from pressrun.core.request_hygiene import RequestRefusal, discard_body, refusals_answered_by

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1_000_000
BODY_TOO_LARGE = "The body is larger than 1 MB."


def _reply(status: int, text: str) -> HttpResponse:
    return HttpResponse(text + "\n", status=status, content_type="text/plain; charset=utf-8")


UNAUTHORIZED_TEXT = "Unknown publisher or wrong token."
SHOPIFY_SENDER_UNCHECKED = (
    "This URL has no token and no Shopify webhook signing key is saved, so the sender cannot "
    "be checked. Save Shopify's signing key in Settings > Cart credentials, or use the URL "
    "with the token shown on the Integrations page."
)


def active_publisher(idpub: str) -> Publisher | None:
    """The active publisher with this publisher ID (digits), or None."""
    text = idpub.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        return None
    return Publisher.objects.filter(id=int(text), is_active=True).first()


def publisher_for_token(idpub: str, token: str) -> Publisher | None:
    """The active publisher with this ID whose cart token is `token` (constant-time check)."""
    if not token:
        return None
    publisher = active_publisher(idpub)
    # Compare against something even for an unknown publisher, so timing reveals nothing.
    expected = publisher.cart_token if publisher is not None else "-" * 32
    if not hmac.compare_digest(expected.encode(), token.encode("utf-8", "replace")):
        return None
    return publisher


def _read_body(request: HttpRequest) -> bytes | None:
    """The raw body, or None when it is over MAX_BODY_BYTES. An over-large body is read on
    and thrown away (up to a limit) before the answer, so the cart gets the 413 rather than
    a connection reset."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_BODY_BYTES:
        discard_body(request)
        return None
    # Read the stream directly: request.body is capped at the gateway's smaller limit.
    body = request.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        discard_body(request)
        return None
    return body


def _over_limit(scope: str, limit: int) -> HttpResponse | None:
    """429 with Retry-After when this request is over `scope`'s rate limit, else None."""
    limited = cart_rate_take(scope=scope, limit=limit)
    if limited is None:
        return None
    response = _reply(429, limited.message)
    response["Retry-After"] = str(limited.retry_after_seconds)
    return response


def _publisher_over_limit(cart: str, publisher: Publisher) -> HttpResponse | None:
    """The verified sender's budget: requests per cart and publisher."""
    return _over_limit(publisher_scope(cart, publisher.id), cart_deliveries_per_minute())


def _unverified(request: HttpRequest, text: str) -> HttpResponse:
    """The answer to a sender that does not check out: 401, stored nowhere; 429 once its
    client address is over the budget for such requests."""
    limited = _over_limit(
        unverified_scope(throttle_address(client_address(request))), cart_unverified_per_minute()
    )
    return limited or _reply(401, text)


Handler = Callable[[HttpRequest, str, RequestRefusal | None], HttpResponse]


def _answer_every_delivery(cart: str, handle: Handler) -> Callable[..., HttpResponse]:
    """The endpoint's view. Never a 500 or a traceback to the cart: a delivery that could not
    be stored gets a 503, which makes the cart retry it later. A request refused before it is
    read (core.request_hygiene: its charset, its body's length) goes through the same
    `handle`, which checks the sender and stores it as a failed delivery."""

    def answer(request: HttpRequest, token: str, refusal: RequestRefusal | None) -> HttpResponse:
        try:
            return handle(request, token or request.GET.get("token", ""), refusal)
        except DatabaseError:
            logger.exception("%s delivery not stored: database error", cart)
        except Exception:
            logger.exception("%s delivery not stored: unexpected error", cart)
        return _reply(503, "Temporarily unavailable; please retry.")

    def view(request: HttpRequest, token: str = "") -> HttpResponse:
        return answer(request, token, None)

    def refused(request: HttpRequest, refusal: RequestRefusal, token: str = "") -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        return answer(request, token, refusal)

    view.__doc__ = handle.__doc__
    return refusals_answered_by(refused)(csrf_exempt(require_POST(view)))


def _refused(
    receive: Callable[..., tuple[object, bool]], body: bytes, refusal: RequestRefusal
) -> HttpResponse:
    """Store a verified sender's request that was refused before it was read, and answer it
    with the refusal's status (415, 411 or 413)."""
    receive(body=body, failure=refusal.message)
    return _reply(refusal.status, refusal.message)


def _shopify_webhook(
    request: HttpRequest, token: str, refusal: RequestRefusal | None
) -> HttpResponse:
    """POST /carts/shopify?idpub=<publisher ID>[&token=<cart token>][&mode=test].

    With the token, the signature is checked too when a signing key is saved (a failure is
    stored). Without it, the publisher must have saved Shopify's signing key and the request
    must carry its valid signature: the HMAC proves the sender. A request failing that is
    answered 401 and not stored, since nothing says who sent it.
    """
    if not token:
        return _shopify_webhook_signed(request, refusal)
    publisher = publisher_for_token(request.GET.get("idpub", ""), token)
    if publisher is None:
        return _unverified(request, UNAUTHORIZED_TEXT)
    return _shopify_receive(request, publisher, refusal=refusal)


def _shopify_webhook_signed(request: HttpRequest, refusal: RequestRefusal | None) -> HttpResponse:
    """The spec's URL, `?idpub=` alone: accepted only with a valid signature."""
    publisher = active_publisher(request.GET.get("idpub", ""))
    if publisher is None:
        return _unverified(request, UNAUTHORIZED_TEXT)
    key = publisher.shopify_webhook_key
    if not key:
        return _unverified(request, SHOPIFY_SENDER_UNCHECKED)
    body = _read_body(request)
    if body is None:
        return _reply(413, BODY_TOO_LARGE)
    signature = request.headers.get("X-Shopify-Hmac-Sha256", "")
    if not signature:
        return _unverified(request, SIGNATURE_MISSING)
    if not signature_valid(key=key, body=body, signature=signature):
        return _unverified(request, SIGNATURE_MISMATCH)
    return _shopify_receive(request, publisher, body=body, refusal=refusal)


def _shopify_receive(
    request: HttpRequest,
    publisher: Publisher,
    *,
    body: bytes | None = None,
    refusal: RequestRefusal | None = None,
) -> HttpResponse:
    """Store a Shopify delivery of a known publisher (its body already read and its signature
    verified when `body` is given) and queue it."""
    limited = _publisher_over_limit(Cart.SHOPIFY, publisher)
    if limited is not None:
        return limited
    topic = request.headers.get("X-Shopify-Topic", "").strip()
    receive = partial(
        delivery_receive,
        cart=Cart.SHOPIFY,
        publisher=publisher,
        headers=dict(request.headers),
        topic=topic,
        test_requested=request.GET.get("mode", "").strip().lower() == "test",
    )
    verified = body is not None
    body = body if body is not None else _read_body(request)
    if body is None:
        receive(body=b"", failure=BODY_TOO_LARGE)
        return _reply(413, BODY_TOO_LARGE)
    if publisher.shopify_webhook_key and not verified:
        signature = request.headers.get("X-Shopify-Hmac-Sha256", "")
        if not signature or not signature_valid(
            key=publisher.shopify_webhook_key, body=body, signature=signature
        ):
            reason = SIGNATURE_MISSING if not signature else SIGNATURE_MISMATCH
            # Stored without the claimed webhook id, so a forged request cannot take the id
            # of a genuine delivery.
            receive(body=body, failure=reason)
            return _reply(401, reason)
    if refusal is not None:
        return _refused(receive, body, refusal)
    try:
        data = load_order(body)
    except PayloadInvalid as exc:
        receive(body=body, failure=str(exc))
        return _reply(400, str(exc))
    shop = request.headers.get("X-Shopify-Shop-Domain", "")
    delivery, created = receive(
        body=body,
        delivery_id=request.headers.get("X-Shopify-Webhook-Id", "").strip(),
        external_key=external_key(shop_domain=shop, data=data),
    )
    return _reply(200, f"ok {delivery.id}" + ("" if created else " (repeat)"))


def _samcart_webhook(
    request: HttpRequest, token: str, refusal: RequestRefusal | None
) -> HttpResponse:
    """POST /carts/samcart?idpub=<publisher ID>&token=<cart token>[&mode=test].

    SamCart's Notify URL POSTs one notification per product, JSON or form-encoded.
    """
    publisher = publisher_for_token(request.GET.get("idpub", ""), token)
    if publisher is None:
        return _unverified(request, UNAUTHORIZED_TEXT)
    limited = _publisher_over_limit(Cart.SAMCART, publisher)
    if limited is not None:
        return limited
    receive = partial(
        delivery_receive,
        cart=Cart.SAMCART,
        publisher=publisher,
        headers=dict(request.headers),
        test_requested=request.GET.get("mode", "").strip().lower() == "test",
    )
    body = _read_body(request)
    if body is None:
        receive(body=b"", failure=BODY_TOO_LARGE)
        return _reply(413, BODY_TOO_LARGE)
    if refusal is not None:
        return _refused(receive, body, refusal)
    try:
        data = samcart_parse.load_notification(body, request.content_type or "")
    except samcart_parse.PayloadInvalid as exc:
        receive(body=body, failure=str(exc))
        return _reply(400, str(exc))
    delivery, _ = receive(
        body=body,
        topic=samcart_parse.event(data),
        external_key=samcart_parse.order_id(data),
    )
    return _reply(200, f"ok {delivery.id}")


def _query_any_case(request: HttpRequest) -> dict[str, str]:
    """Query parameters by lower-cased name (1ShoppingCart's are TSMode, TSPub, TSErrEM, but
    publishers type them by hand)."""
    return {name.lower(): request.GET.get(name, "") for name in request.GET}


def _error_address(value: str, *, publisher: Publisher, token_checked: bool) -> str:
    """Where errors about the notification are emailed (TSErrEM), or "".

    Behind the token any valid address is taken, as the spec has it. Without the token anyone
    who knows the publisher ID could write the URL, so only one of the publisher's own
    addresses (login or error email) is taken: pressrun never mails an address a stranger
    chose.
    """
    address = value.strip()
    try:
        validate_email(address)
    except ValidationError:
        return ""
    if token_checked:
        return address
    own = {publisher.email.lower(), publisher.error_recipient.lower()}
    return address if address.lower() in own else ""


TSMODE_INVALID = "TSMode must be test or prod."


def _oneshoppingcart_notification(
    request: HttpRequest, token: str, refusal: RequestRefusal | None
) -> HttpResponse:
    """POST /carts/1shoppingcart?TSMode=<test|prod>&TSPub=<publisher ID>[&TSErrEM=<error
    email>][&token=<cart token>].

    The spec's URL has no token, and none is needed: the XML body holds only the order's id,
    and the order itself is read from 1ShoppingCart's API with the publisher's own Merchant ID
    and key by the processing task. A token, when given, must be right. 200 is answered only
    once the notification is stored, since 1ShoppingCart repeats it until it gets a 200.
    """
    query = _query_any_case(request)
    idpub = query.get("tspub") or query.get("idpub", "")
    publisher = publisher_for_token(idpub, token) if token else active_publisher(idpub)
    if publisher is None:
        return _unverified(request, UNAUTHORIZED_TEXT)
    limited = _publisher_over_limit(Cart.ONESHOPPINGCART, publisher)
    if limited is not None:
        return limited
    mode = query.get("tsmode", "").strip().lower()
    receive = partial(
        delivery_receive,
        cart=Cart.ONESHOPPINGCART,
        publisher=publisher,
        headers=dict(request.headers),
        test_requested=mode == "test",
        notify_email=_error_address(
            query.get("tserrem", ""), publisher=publisher, token_checked=bool(token)
        ),
    )
    body = _read_body(request)
    failure = ""
    if body is None:
        body, failure, status = b"", BODY_TOO_LARGE, 413
    elif refusal is not None:
        failure, status = refusal.message, refusal.status
    elif mode not in ("test", "prod"):
        failure, status = f"{TSMODE_INVALID} The Notification URL has TSMode='{mode}'.", 400
    else:
        try:
            notification = oneshoppingcart_parse.parse_notification(body)
        except oneshoppingcart_parse.PayloadInvalid as exc:
            failure, status = str(exc), 400
    if failure:
        delivery, _ = receive(body=body, failure=failure)
        if delivery.notify_email:
            # The refusal is stored: its answer stands even if the email cannot be queued.
            try:
                delivery_refused_email(delivery_id=delivery.id)
            except Exception:
                logger.exception("1shoppingcart delivery %s: error email not queued", delivery.id)
        return _reply(status, failure)
    delivery, _ = receive(
        body=body,
        topic=notification.event,
        external_key=oneshoppingcart_parse.delivery_key(
            token=notification.token, test=mode == "test"
        ),
    )
    return _reply(200, f"ok {delivery.id}")


shopify_webhook = _answer_every_delivery("shopify", _shopify_webhook)
samcart_webhook = _answer_every_delivery("samcart", _samcart_webhook)
oneshoppingcart_notification = _answer_every_delivery(
    "1shoppingcart", _oneshoppingcart_notification
)
