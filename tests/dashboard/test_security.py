"""Dashboard security: sign-in required everywhere, another publisher's objects are 404,
CSRF is enforced, user text is escaped, and the headers that keep pages safe are sent."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings as django_settings
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.resolvers import RoutePattern
from django.utils import timezone

from pressrun.accounts.models import Publisher
from pressrun.carts.models import (
    CartPostback,
    InboundDelivery,
    Outcome,
    ShippingRule,
    UnmatchedProduct,
)
from pressrun.carts.services import shipping_rule_create
from pressrun.catalog.models import Project
from pressrun.dashboard.tokens import encode_publisher_id, password_reset_token
from pressrun.orders.models import Order, OrderLine, OrderStatus
from pressrun.payments.models import Checkout, CheckoutStatus
from pressrun.warehouses.carrier_codes import (
    carrier_codes_import,
    carrier_codes_upload,
    description_rule_create,
)
from pressrun.warehouses.listings import listings_import, listings_upload
from pressrun.warehouses.models import (
    CarrierCodeUpload,
    DescriptionRule,
    ListingUpload,
    WarehouseConnection,
    WarehouseOrder,
    WarehousePush,
    WarehouseShipment,
)
from pressrun.warehouses.services import warehouse_create
from pressrun.webhooks.models import DeliveryStatus, WebhookDelivery
from tests.conftest import PASSWORD
from tests.dashboard.conftest import sign_in
from tests.dashboard.pages import ESCAPED, SCRIPT

pytestmark = pytest.mark.django_db

# Pages anyone may open: the sign-in and password-reset pages.
PUBLIC = {"root", "sign_in", "sign_out", "password_reset", "password_reset_confirm"}
SAMPLE_ARGUMENTS = {
    "unmatched_id": "1",
    "project_id": "1",
    "order_id": "1",
    "rule_id": "1",
    "checkout_id": "1",
    "delivery_id": "1",
    "webhook_delivery_id": "1",
    "connection_id": "1",
    "description_rule_id": "1",
    "push_id": "1",
    "shipment_id": "1",
}


def dashboard_paths() -> list[tuple[str, str]]:
    """(name, path) of every dashboard URL that needs a signed-in publisher, found from the
    URL configuration so a page added later is covered without editing this test."""
    resolver = get_resolver()
    found = []
    for pattern in resolver.url_patterns:
        if getattr(pattern, "namespace", None) != "dashboard":
            continue
        for entry in pattern.url_patterns:  # type: ignore[union-attr]
            assert isinstance(entry, URLPattern)
            if entry.name in PUBLIC:
                continue
            path = str(entry.pattern)
            for name, value in SAMPLE_ARGUMENTS.items():
                path = path.replace(f"<int:{name}>", value)
            assert "<" not in path, f"give {entry.name} a sample argument"
            found.append((str(entry.name), "/" + path))
    assert len(found) >= 9
    return found


@pytest.mark.parametrize(("name", "path"), dashboard_paths())
@pytest.mark.parametrize("method", ["get", "post"])
def test_every_page_needs_a_signed_in_publisher(
    client: Client, publisher: Publisher, name: str, path: str, method: str
) -> None:
    before = Publisher.objects.filter(id=publisher.id).values().get()
    response = getattr(client, method)(path)
    assert response.status_code == 302, name
    expected = "/sign-in?next=" if method == "get" else "/sign-in"
    assert response["Location"].startswith(expected)
    assert Publisher.objects.filter(id=publisher.id).values().get() == before


# --- Another publisher's objects, for every URL that names one ------------------------------

# The URL namespaces whose views take objects from the URL.
OBJECT_NAMESPACES = ("dashboard", "customers")


@dataclass(frozen=True)
class Theirs:
    """Publisher B's objects (B is not the signed-in publisher A), and A's own project."""

    publisher: Publisher
    project: Project
    order: Order
    line: OrderLine
    unmatched: UnmatchedProduct
    delivery: InboundDelivery
    shipping_rule: ShippingRule
    my_project: Project
    my_reset_token: str
    checkout: Checkout
    webhook_delivery: WebhookDelivery
    warehouse: WarehouseConnection
    listing_upload: ListingUpload
    description_rule: DescriptionRule
    carrier_code_upload: CarrierCodeUpload
    warehouse_push: WarehousePush
    shipment: WarehouseShipment  # a package whose post-back to the cart gave up


# For every URL argument, per namespace: the value naming publisher B's object. A URL with an
# argument missing here fails test_every_object_url_refuses_another_publishers_objects, so a
# new object URL cannot be added without this check.
OTHER_PUBLISHERS_ARGUMENTS: dict[str, dict[str, Callable[[Theirs], str]]] = {
    "dashboard": {
        "order_id": lambda theirs: str(theirs.order.id),
        "project_id": lambda theirs: str(theirs.project.id),
        "unmatched_id": lambda theirs: str(theirs.unmatched.id),
        "rule_id": lambda theirs: str(theirs.shipping_rule.id),
        "checkout_id": lambda theirs: str(theirs.checkout.id),
        "delivery_id": lambda theirs: str(theirs.delivery.id),
        "webhook_delivery_id": lambda theirs: str(theirs.webhook_delivery.id),
        "connection_id": lambda theirs: str(theirs.warehouse.id),
        "description_rule_id": lambda theirs: str(theirs.description_rule.id),
        "push_id": lambda theirs: str(theirs.warehouse_push.id),
        "shipment_id": lambda theirs: str(theirs.shipment.id),
        # B's id in a reset link with a token that is genuinely valid, but made for A.
        "encoded_id": lambda theirs: encode_publisher_id(theirs.publisher),
        "token": lambda theirs: theirs.my_reset_token,
    },
    "customers": {
        # The link's token is the only credential: another of B's secrets (the cart token,
        # the same shape) is not an order's link.
        "token": lambda theirs: theirs.publisher.cart_token,
    },
}
# What the refusal is, where it is not a 404: an invalid reset link is a 400 page.
REFUSAL_STATUS = {"dashboard:password_reset_confirm": 400}
# A POST body that would change B's objects if the view did not refuse them.
POST_DATA: dict[str, Callable[[Theirs], dict[str, str]]] = {
    "dashboard:order_modify": lambda theirs: {
        "name": "Taken Over",
        "company": "",
        "address": "9 Ocean Ave",
        "city": "Santa Monica",
        "state": "CA",
        "postal_code": "90401",
        "country": "US",
        "email": "attacker@example.com",
        "mail_method": "priority",
        f"quantity_{theirs.line.id}": "3",
    },
    "dashboard:project_edit": lambda theirs: {
        "title": "Taken Over",
        "media": "dvd",
        "packaging": "dvd-case",
        "special_text": "hacked",
        "ecommerce_ids": "HACK-1",
    },
    "dashboard:unmatched_map": lambda theirs: {
        f"map-{theirs.unmatched.id}-project": str(theirs.my_project.id)
    },
    "dashboard:unmatched_listing": lambda theirs: {
        f"listing-{theirs.unmatched.id}-connection": str(theirs.warehouse.id)
    },
    "dashboard:warehouse_enabled": lambda theirs: {"enabled": "1"},
    "dashboard:warehouse_unknown_skus": lambda theirs: {"on": "1"},
    # B's own pending upload, confirmed through B's connection's URL.
    "dashboard:warehouse_listings": lambda theirs: {
        "action": "confirm",
        "upload": str(theirs.listing_upload.id),
    },
    "dashboard:warehouse_carrier_codes": lambda theirs: {
        "action": "confirm",
        "upload": str(theirs.carrier_code_upload.id),
    },
    "dashboard:warehouse_push": lambda theirs: {"url": "https://taken-over.example.com/"},
    "dashboard:warehouse_stock": lambda theirs: {"action": "sync"},
    "dashboard:warehouse_rules": lambda theirs: {
        "match": "is",
        "text": "hacked",
        "carrier_code": "THEIR_CODE",
    },
    "dashboard:password_reset_confirm": lambda theirs: {
        "new_password": "taken over 12345",
        "new_password_again": "taken over 12345",
    },
    "customers:order": lambda theirs: {
        "name": "Taken Over",
        "company": "",
        "address": "9 Ocean Ave",
        "city": "Santa Monica",
        "state": "California",
        "postal_code": "90401",
        "country": "United States",
    },
}


@dataclass(frozen=True)
class ObjectUrl:
    name: str  # namespace:name
    route: str
    arguments: tuple[str, ...]

    def __str__(self) -> str:
        return self.name


def _pattern_arguments(entry: URLPattern | URLResolver) -> list[str]:
    pattern: Any = entry.pattern
    if isinstance(pattern, RoutePattern):  # path()
        return list(pattern.converters)
    return list(pattern.regex.groupindex)  # re_path(): its named groups


def object_urls() -> list[ObjectUrl]:
    """Every URL of the dashboard and customer pages that takes an argument, found from the
    URL configuration (nested includes too), so a URL added later is checked as well."""
    found: list[ObjectUrl] = []

    def walk(entries: list[Any], namespace: str | None, prefix: str, arguments: list[str]) -> None:
        for entry in entries:
            here = arguments + _pattern_arguments(entry)
            route = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                inner = entry.namespace or namespace
                if namespace and entry.namespace:
                    inner = f"{namespace}:{entry.namespace}"
                walk(entry.url_patterns, inner, route, here)
            elif namespace and namespace.split(":")[0] in OBJECT_NAMESPACES and here:
                assert entry.name, f"the URL {route!r} needs a name to be checked here"
                found.append(ObjectUrl(f"{namespace}:{entry.name}", "/" + route, tuple(here)))

    walk(get_resolver().url_patterns, None, "", [])
    names = {url.name for url in found}
    expected = {
        "dashboard:password_reset_confirm",
        "dashboard:unmatched_map",
        "dashboard:unmatched_ignore",
        "dashboard:unmatched_unignore",
        "dashboard:delivery_dismiss",
        "dashboard:delivery_replay",
        "dashboard:project_edit",
        "dashboard:order_detail",
        "dashboard:order_modify",
        "dashboard:order_delete",
        "dashboard:shipping_rule_remove",
        "dashboard:warehouse_enabled",
        "dashboard:warehouse_password",
        "dashboard:warehouse_listings",
        "dashboard:warehouse_listings_csv",
        "dashboard:warehouse_carrier_codes",
        "dashboard:warehouse_rules",
        "dashboard:warehouse_rule_remove",
        "dashboard:unmatched_listing",
        "dashboard:delivery_detail",
        "dashboard:warehouse_unknown_skus",
        "dashboard:warehouse_orders",
        "dashboard:warehouse_orders_recheck",
        "dashboard:warehouse_push",
        "dashboard:warehouse_push_secret",
        "dashboard:warehouse_push_again",
        "dashboard:warehouse_stock",
        "customers:order",
    }
    assert expected <= names, f"the URL walk missed {sorted(expected - names)}"
    return found


def everything() -> dict[str, list[dict[str, Any]]]:
    """Every row of every pressrun model, to prove a refused request wrote nothing."""
    return {
        model._meta.label: list(model.objects.order_by("pk").values())
        for model in apps.get_models()
        if model.__module__.startswith("pressrun.")
    }


@pytest.fixture
def theirs(
    publisher: Publisher,
    make_publisher: Callable[..., Any],
    make_project: Callable[..., Any],
    place_order: Callable[..., Any],
) -> Theirs:
    other = make_publisher(email="other@example.com", company="Other Label")
    project = make_project(other, title="Their Album")
    order = place_order(other, project, name="Their Customer", email="their@example.com")
    assert order.status == OrderStatus.HOLD  # the one status a publisher may change
    unmatched = UnmatchedProduct.objects.create(
        publisher=other,
        cart="shopify",
        product_ref="THEIR-SKU",
        first_seen_at=timezone.now(),
        last_seen_at=timezone.now(),
    )
    delivery = InboundDelivery.objects.create(
        cart="shopify",
        publisher=other,
        received_at=timezone.now(),
        body=b'{"id": 1}',
        topic="orders/fulfilled",
        outcome=Outcome.FAILED,
        reason="Gave up after 8 attempts.",
    )
    unmatched.deliveries.add(delivery)
    warehouse = warehouse_create(name="Their 3PL", publisher_id=other.id).connection
    header = b"channel_sku,warehouse_sku,quantity\n"
    listings_import(connection_id=warehouse.id, data=header + b"SET,A,1\nSET,B,2\n")
    pending = listings_upload(connection_id=warehouse.id, data=header + b"SET,HACKED,1\n")
    assert pending.upload is not None
    carrier_codes_import(
        connection_id=warehouse.id, data=b"Carrier,Code,Description\nUSPS,THEIR_CODE,x\n"
    )
    codes_pending = carrier_codes_upload(
        connection_id=warehouse.id, data=b"Carrier,Code,Description\nUSPS,HACKED,x\n"
    )
    assert codes_pending.upload is not None
    now = timezone.now()
    their_order = WarehouseOrder.objects.create(
        publisher=other,
        connection=warehouse,
        cart="shopify",
        external_key="their-shop.myshopify.com:1",
        state="partially_shipped",
        created_at=now,
        updated_at=now,
    )
    shipment = WarehouseShipment.objects.create(
        connection=warehouse,
        order=their_order,
        tracking_number="THEIRS-1",
        ship_date=now.date(),
        received_at=now,
    )
    CartPostback.objects.create(
        warehouse_shipment=shipment,
        cart="shopify",
        state="gave_up",
        last_error="Shopify refused the access token (HTTP 401).",
        created_at=now,
        updated_at=now,
    )
    return Theirs(
        publisher=other,
        project=project,
        order=order,
        line=OrderLine.objects.get(order=order),
        unmatched=unmatched,
        delivery=delivery,
        shipping_rule=shipping_rule_create(
            publisher=other, match="is", text="their shipping", mail_method="express"
        ),
        my_project=make_project(publisher, title="My Album"),
        my_reset_token=password_reset_token(publisher),
        checkout=Checkout.objects.create(
            publisher=other,
            amount=Decimal("25.00"),
            status=CheckoutStatus.OPEN,
            stripe_session_id="cs_test_theirs",
            created_at=timezone.now(),
        ),
        webhook_delivery=WebhookDelivery.objects.create(
            event_id="evt_theirs",
            publisher=other,
            event_type="order.placed",
            order=order,
            body="{}",
            created_at=timezone.now(),
            status=DeliveryStatus.DELIVERED,
        ),
        warehouse=warehouse,
        listing_upload=pending.upload,
        description_rule=description_rule_create(
            connection_id=warehouse.id, match="is", text="Their shipping", carrier_code="THEIR_CODE"
        ),
        carrier_code_upload=codes_pending.upload,
        shipment=shipment,
        warehouse_push=_their_refused_push(warehouse),
    )


def _their_refused_push(warehouse: WarehouseConnection) -> WarehousePush:
    """A push of B's warehouse that "Send again" would send, were it A's."""
    now = timezone.now()
    order = WarehouseOrder.objects.create(
        publisher_id=warehouse.publisher_id,
        connection=warehouse,
        cart="shopify",
        external_key="their-shop:1",
        state="error",
        error="The warehouse refused the order (HTTP 422).",
        carrier_code="THEIR_CODE",
        created_at=now,
        updated_at=now,
    )
    return WarehousePush.objects.create(
        order=order,
        connection=warehouse,
        idempotency_key="whpush_theirs",
        body="{}",
        status="refused",
        created_at=now,
    )


@pytest.mark.parametrize("url", object_urls(), ids=str)
def test_every_object_url_refuses_another_publishers_objects(
    url: ObjectUrl, publisher: Publisher, theirs: Theirs, client_for: Callable[..., Client]
) -> None:
    namespace = url.name.split(":")[0]
    known = OTHER_PUBLISHERS_ARGUMENTS.get(namespace, {})
    missing = [argument for argument in url.arguments if argument not in known]
    if missing:
        pytest.fail(
            f"The URL {url.name} ({url.route}) takes {', '.join(map(repr, missing))}, which "
            f"OTHER_PUBLISHERS_ARGUMENTS[{namespace!r}] does not know. Add the value naming "
            "publisher B's object for it (and, if the view changes something, a POST body in "
            "POST_DATA), so this test proves another publisher's object is refused."
        )
    path = reverse(
        url.name, kwargs={argument: known[argument](theirs) for argument in url.arguments}
    )
    expected = REFUSAL_STATUS.get(url.name, 404)
    data = POST_DATA.get(url.name, lambda theirs: {})(theirs)
    client = client_for(publisher)
    before = everything()
    statuses = {}
    for method in ("get", "post"):
        response = getattr(client, method)(path, data) if method == "post" else client.get(path)
        statuses[method] = response.status_code
        # 405: the view does not take this method (it refuses before looking anything up).
        assert response.status_code in (expected, 405), (url.name, method, response.status_code)
        assert everything() == before, (url.name, method)
    assert expected in statuses.values(), (url.name, statuses)
    # Still signed in as A, and B can still sign in with B's own password.
    assert client.get("/home").status_code == 200
    assert (
        Client()
        .post("/sign-in", {"email": theirs.publisher.email, "password": PASSWORD})
        .status_code
        == 302
    )


def test_an_htmx_request_without_a_session_reloads_to_sign_in(client: Client) -> None:
    response = client.get("/billing?payment=5", headers={"HX-Request": "true"})
    assert response.status_code == 204
    assert response["HX-Redirect"] == "/sign-in"


def test_another_publishers_unmatched_product_is_404_and_unchanged(
    publisher: Publisher,
    make_publisher: Callable[..., Any],
    make_project: Callable[..., Any],
    client_for: Callable[..., Client],
) -> None:
    other = make_publisher()
    theirs = UnmatchedProduct.objects.create(
        publisher=other,
        cart="samcart",
        product_ref="294010",
        first_seen_at=timezone.now(),
        last_seen_at=timezone.now(),
    )
    mine = make_project(publisher)
    response = client_for(publisher).post(
        f"/integrations/unmatched/{theirs.id}/map", {f"map-{theirs.id}-project": str(mine.id)}
    )
    assert response.status_code == 404
    assert Project.objects.get(id=mine.id).ecommerce_ids == ""
    assert UnmatchedProduct.objects.get(id=theirs.id).resolved_at is None


def test_mapping_to_another_publishers_project_is_refused(
    publisher: Publisher,
    make_publisher: Callable[..., Any],
    make_project: Callable[..., Any],
    client_for: Callable[..., Client],
) -> None:
    other = make_publisher()
    their_project = make_project(other)
    mine = UnmatchedProduct.objects.create(
        publisher=publisher,
        cart="shopify",
        product_ref="SKU-9",
        first_seen_at=timezone.now(),
        last_seen_at=timezone.now(),
    )
    client = client_for(publisher)
    response = client.post(
        f"/integrations/unmatched/{mine.id}/map",
        {f"map-{mine.id}-project": str(their_project.id)},
        follow=True,
    )
    assert "Choose one of your projects for Shopify product" in response.content.decode()
    assert Project.objects.get(id=their_project.id).ecommerce_ids == ""
    assert UnmatchedProduct.objects.get(id=mine.id).resolved_at is None
    page = client.get("/integrations").content.decode()
    assert f'<option value="{their_project.id}">' not in page


def test_csrf_is_enforced(publisher: Publisher, make_project: Callable[..., Any]) -> None:
    make_project(publisher)
    client = Client(enforce_csrf_checks=True)
    assert (
        client.post("/sign-in", {"email": publisher.email, "password": PASSWORD}).status_code == 403
    )
    page = client.get("/sign-in").content.decode()
    token = page.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
    response = client.post(
        "/sign-in", {"email": publisher.email, "password": PASSWORD, "csrfmiddlewaretoken": token}
    )
    assert response["Location"] == "/home"
    before = Publisher.objects.filter(id=publisher.id).values().get()
    for path, data in (
        ("/settings", {"company": "Hacked", "default_mail_method": "standard"}),
        ("/settings/carts", {"shopify_webhook_key": "attacker"}),
        ("/settings/cart-token", {}),
        ("/settings/password", {"current_password": PASSWORD, "new_password": "x" * 9}),
        ("/integrations/test-order", {}),
        ("/sign-out", {}),
    ):
        assert client.post(path, data).status_code == 403, path
    assert Publisher.objects.filter(id=publisher.id).values().get() == before
    assert Order.objects.count() == 0
    assert client.get("/home").status_code == 200  # still signed in


def test_html_in_user_text_is_shown_escaped(
    publisher: Publisher,
    make_project: Callable[..., Any],
    place_order: Callable[..., Any],
    client_for: Callable[..., Client],
) -> None:
    Publisher.objects.filter(id=publisher.id).update(company=SCRIPT)
    project = make_project(publisher, title=SCRIPT)
    place_order(publisher, project, name=f"Ada {SCRIPT}")
    UnmatchedProduct.objects.create(
        publisher=publisher,
        cart="shopify",
        product_ref=SCRIPT,
        title=SCRIPT,
        first_seen_at=timezone.now(),
        last_seen_at=timezone.now(),
    )
    client = client_for(publisher)
    for path in ("/home", "/settings", "/integrations", "/billing"):
        page = client.get(path).content.decode()
        assert SCRIPT not in page, path
        assert ESCAPED in page, path


def test_security_headers(signed_in: Client, client: Client) -> None:
    for response in (client.get("/sign-in"), signed_in.get("/home")):
        assert response["Content-Security-Policy"] == django_settings.CONTENT_SECURITY_POLICY
        assert "script-src 'self'" in response["Content-Security-Policy"]
        assert "'unsafe-inline'" not in response["Content-Security-Policy"]
        assert response["X-Frame-Options"] == "DENY"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Referrer-Policy"] == "same-origin"
    assert signed_in.get("/home")["Cache-Control"] == "no-store, private"


def test_pages_have_no_inline_script_or_style(signed_in: Client) -> None:
    for path in ("/home", "/settings", "/integrations", "/billing", "/settings/password"):
        page = signed_in.get(path).content.decode()
        assert "<script>" not in page
        assert "<script src=" in page
        assert " style=" not in page
        assert "<style" not in page
        assert " onclick=" not in page


def test_session_and_csrf_cookies(client: Client, publisher: Publisher, settings: Any) -> None:
    sign_in(client, publisher)
    session = client.cookies["sessionid"]
    assert session["httponly"] is True
    assert session["samesite"] == "Lax"
    assert client.cookies["csrftoken"]["httponly"] is True
