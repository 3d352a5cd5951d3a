"""Every dashboard page fits a 390 px wide phone: with data that fills its tables (orders,
cart deliveries with long reasons, unmatched and ignored products, the ledger, shipping
rules, a long eCommerce ID String), `document.documentElement.scrollWidth` is at most 390.

The list of pages comes from the URL configuration: a dashboard URL is either a page checked
here or named in NOT_PAGES with the reason, so a page added later cannot be missed.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from django.urls import URLPattern, get_resolver

from tests.live import LiveService
from tests.ui.conftest import PHONE, sign_in

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.e2e

# Dashboard URLs that are not pages a person opens.
NOT_PAGES = {
    "root": "redirects to the home page or the sign-in page",
    "sign_out": "POST only",
    "password_reset_confirm": "needs a fresh emailed token (its form is the password form)",
    "cart_credentials": "POST only (its form is on Settings)",
    "cart_token_rotate": "POST only (its form is on Settings)",
    "test_order": "POST only",
    "shipping_rule_remove": "POST only",
    "unmatched_map": "POST only",
    "unmatched_ignore": "POST only",
    "unmatched_unignore": "POST only",
    "delivery_dismiss": "POST only",
    "delivery_replay": "POST only",
    "ecommerce_ids_check": "an HTML fragment inside the project page",
    "orders_export": "CSV",
    "order_delete": "POST only",
    "add_credit": "POST only (its form is on Billing; answers with Stripe's payment page)",
    "checkout_return": "redirects to Billing with a message",
    "checkout_cancel": "redirects to Billing with a message",
    "order_postback_retry": "POST only (its button is on the order's page)",
    "webhook_secret": "POST only (its form is on the Webhooks page)",
    "webhook_test": "POST only (its button is on the Webhooks page)",
    "webhook_redeliver": "POST only (its button is on the delivery's page)",
    "warehouse_enabled": "POST only (its button is on Warehouses)",
    "warehouse_password": "POST only (its button is on Warehouses)",
    "warehouse_listings_csv": "CSV",
    "warehouse_rule_remove": "POST only (its button is on the warehouse's shipping rules)",
    "warehouse_unknown_skus": "POST only (its button is on Warehouses)",
    "warehouse_orders_recheck": "POST only (its button is on the warehouse's orders)",
    "unmatched_listing": "POST only (its form is on Integrations)",
    "warehouse_push_secret": "POST only (its button is on the warehouse's Push page)",
    "warehouse_push_again": "POST only (its button is on the warehouse's orders)",
    "warehouse_shipment_postback_retry": "POST only (its button is on the warehouse's orders)",
}
# Pages open without signing in (checked signed out).
SIGNED_OUT_PAGES = {"sign_in", "password_reset"}

FILL = """
import json
from datetime import timedelta
from decimal import Decimal
from django.utils import timezone
from pressrun.accounts.models import Publisher
from pressrun.carts.models import InboundDelivery, UnmatchedProduct
from pressrun.carts.services import shipping_rule_create
from pressrun.carts.unmatched import CartProduct, unmatched_record
from pressrun.catalog.services import project_update
from pressrun.catalog.models import Project
from pressrun.orders.requests import LineRequest, OrderRequest, RecipientRequest
from pressrun.orders.services import order_place
publisher = Publisher.objects.get(id={publisher_id})
Publisher.objects.filter(id=publisher.id).update(
    company="Extraordinarily Long Company Name Records International Ltd")
project = Project.objects.get(id={project_id})
project_update(project=project, title="A Very Long Album Title That Goes On And On (Deluxe)",
    ecommerce_ids=" ".join("<SKU-" + str(n) + "-SUPERLONGVARIANTNAME>" for n in range(12)))
orders = []
for number in range(30):
    order = order_place(publisher=publisher, request=OrderRequest(
        publisher_id=publisher.id, lines=(LineRequest(project_id=project.id, quantity=2),),
        recipient=RecipientRequest(
            name="Bartholomew Maximilian Featherstonehaugh-" + str(number),
            company="Very Long Company Name Incorporated",
            address="12345 Extraordinarily Long Street Name Boulevard Apartment 67",
            city="Llanfairpwllgwyngyllgogerychwyrndrobwllllantysiliogogogoch",
            postal_code="SW1A 1AA", country="GB",
            email="bartholomew.featherstonehaugh" + str(number) + "@example-long-domain.com"),
        mode="prod", source="gateway", invoice="{prefix}-INVOICE-NUMBER-" + str(number),
        special_text="Serial number ABCDEFGHIJKLMNOPQRSTUVWXYZ-0123456789-ABCDEFGHIJ"))
    orders.append(order.id)
now = timezone.now()
reason = ("Gave up after 8 attempts: 1ShoppingCart's API answered HTTP 503 "
          "https://www.mcssl.com/API/123456789/Orders/987654321/ReallyLongPathSegment "
          "Replay it once the cause is fixed.")
for number in range(25):
    delivery = InboundDelivery.objects.create(
        cart="shopify", publisher=publisher, received_at=now - timedelta(minutes=number),
        body=b"{{}}", topic="orders/fulfilled",
        external_key="extraordinarily-long-shop-name.myshopify.com:82098291194615450" + str(number),
        outcome="failed" if number % 3 else "unmatched", reason=reason,
        dismissed_at=now if number % 5 == 0 else None, dismissed_by="dashboard (x@example.com)")
    unmatched_record(delivery=delivery, products=[
        CartProduct("TOUR-POSTER-EXTRA-LARGE-VARIANT-" + str(number % 4),
                    "Tour poster, extra large, signed by the whole band")])
UnmatchedProduct.objects.filter(publisher=publisher, product_ref__endswith="-3").update(
    ignored_at=now, ignored_by="dashboard (someone.with.a.long.email@example-long-domain.com)")
shipping_rule_create(publisher=publisher, match="starts_with",
    text="usps priority mail international flat rate envelope with tracking",
    mail_method="priority")
# The first order paid (a credit of exactly its cost releases it, oldest first) and stopped
# for its address (the address-fix page), with a long description; a webhook endpoint with a
# long URL and one delivery (the delivery page).
from pressrun.billing.services import ledger_adjust
from pressrun.fulfillment.address.services import address_problem_report
from pressrun.orders.models import Order
from pressrun.webhooks.services import webhook_endpoint_save, webhook_test_send
first = Order.objects.get(id=orders[0])
if first.status == "HOLD":
    ledger_adjust(publisher_id=publisher.id, amount=first.total_cost, reason="Width test",
                  actor="test")
address_problem_report(order_id=orders[0], actor="operator:test",
    description="The postcode SW1A 1AA does not belong to Llanfairpwllgwyngyllgogerychwyrndrobwll"
                "llantysiliogogogoch; please check the street, the town and the postcode.")
webhook_endpoint_save(publisher=publisher, enabled=True,
    url="http://127.0.0.1:9/an/extraordinarily/long/webhook/receiver/path/that/goes/on",
    event_types=["order.placed", "order.held", "order.released", "order.shipped"])
delivery = webhook_test_send(publisher=publisher)
from pressrun.warehouses.listings import listings_import
from pressrun.warehouses.services import warehouse_create
warehouse = warehouse_create(name="Extraordinarily Long Warehouse Name Fulfillment Center West",
    publisher_id=publisher.id).connection
listings_import(connection_id=warehouse.id,
    data=b"channel_sku,warehouse_sku,quantity\\n" + b"".join(
    b"GIFTSET-EXTRAORDINARILY-LONG-CHANNEL-SKU-%d,WAREHOUSE-SKU-THAT-IS-VERY-LONG-%d,2\\n"
    % (number % 5, number) for number in range(20)))
from pressrun.warehouses.carrier_codes import carrier_codes_import, description_rule_create
carrier_codes_import(connection_id=warehouse.id, data=b"Carrier,Code,Description\\n" + b"".join(
    b"USPS,USPS_PRIORITY_MAIL_INTERNATIONAL_FLAT_RATE_%d,USPS Priority Mail International "
    b"Flat Rate Padded Envelope with tracking %d\\n" % (number, number) for number in range(8)))
description_rule_create(connection_id=warehouse.id, match="starts_with",
    text="Free Shipping on every order over fifty dollars (arrives in 5-8 business days)",
    carrier_code="USPS_PRIORITY_MAIL_INTERNATIONAL_FLAT_RATE_3")
from pressrun.warehouses.services import warehouse_set_enabled
from pressrun.carts.models import CartOrder, CartOrderLine
from pressrun.carts.routing import cart_order_reroute
warehouse_set_enabled(connection_id=warehouse.id, enabled=True)
routed = InboundDelivery.objects.filter(publisher=publisher).order_by("id").first()
InboundDelivery.objects.filter(id=routed.id).update(outcome="routed")
cart_order = CartOrder.objects.create(publisher=publisher, cart="shopify",
    external_key=routed.external_key, name="#1001-EXTRAORDINARILY-LONG-ORDER-NAME",
    recipient={{"name": "Bartholomew Maximilian Featherstonehaugh", "address": "12345 Long Street",
               "city": "Llanfairpwllgwyngyllgogerychwyrndrobwllllantysiliogogogoch",
               "country": "GB", "company": "", "state": "", "postal_code": "", "email": ""}},
    shipping_description="Free Shipping on every order over fifty dollars (arrives in 5-8 "
                         "business days) and then some more words",
    request={{}}, created_at=now)
for number in range(3):
    CartOrderLine.objects.create(cart_order=cart_order, key="id:" + str(number),
        ref="GIFTSET-EXTRAORDINARILY-LONG-CHANNEL-SKU-" + str(number),
        title="A gift set with an extraordinarily long title", quantity=2)
CartOrderLine.objects.create(cart_order=cart_order, key="id:9",
    ref="TOUR-POSTER-EXTRA-LARGE-VARIANT-WITHOUT-ANY-LISTING", title="Poster", quantity=1)
cart_order_reroute(cart_order_id=cart_order.id)
# The warehouse takes its orders by push, to a long URL (the orders page's push column).
from pressrun.warehouses.push import warehouse_push_configure
warehouse_push_configure(connection_id=warehouse.id,
    url="https://wms.extraordinarily-long-warehouse-domain-name.example.com/api/v2/orders")
from pressrun.carts.stock_sync import stock_sync_run
from pressrun.warehouses.inbound import StockItem, StockReport
from pressrun.warehouses.stock import warehouse_stock_report
warehouse_stock_report(connection=warehouse, report=StockReport(as_of=None, items=tuple(
    StockItem("WAREHOUSE-SKU-THAT-IS-VERY-LONG-" + str(number), number) for number in range(15))))
# On, with no Admin API token saved: the run records each SKU and stops before any request.
from pressrun.carts.models import StockSync
StockSync.objects.create(publisher=publisher,
    shop_domain="an-extraordinarily-long-shop-name.myshopify.com",
    location_id="gid://shopify/Location/1", location_name="Extraordinarily Long Location West")
stock_sync_run(publisher_id=publisher.id)
print(json.dumps({{"orders": orders, "warehouse": warehouse.id, "webhook_delivery": delivery.id,
                  "delivery": routed.id}}))
"""


# The elements reaching past the screen's right edge (innermost first), to say what to fix.
OVERFLOWING = """
() => {
  const limit = document.documentElement.clientWidth;
  const found = [];
  const clipped = (element) => {
    for (let parent = element.parentElement; parent; parent = parent.parentElement) {
      const overflow = getComputedStyle(parent).overflowX;
      if (overflow !== "visible" && parent.getBoundingClientRect().right <= limit + 0.5) {
        return true;
      }
    }
    return false;
  };
  for (const element of document.querySelectorAll("body *")) {
    const box = element.getBoundingClientRect();
    if (box.right > limit + 0.5 && box.width > 0 && !clipped(element)) {
      const inside = [...element.children].some(
        (child) => child.getBoundingClientRect().right > limit + 0.5);
      if (!inside) {
        const name = element.tagName.toLowerCase()
          + (element.className ? "." + element.className : "");
        const words = (element.textContent || "").trim().slice(0, 40);
        found.push(name + " (" + Math.round(box.right) + "px): " + words);
      }
    }
  }
  return found.slice(0, 4);
}
"""


def measure(page: Page) -> tuple[int, list[str]]:
    width = int(page.evaluate("document.documentElement.scrollWidth"))
    return width, ([] if width <= PHONE["width"] else page.evaluate(OVERFLOWING))


def dashboard_pages() -> list[str]:
    """The names of the dashboard's pages, every URL classified (see NOT_PAGES)."""
    names = []
    for pattern in get_resolver().url_patterns:
        if getattr(pattern, "namespace", None) == "dashboard":
            names = [entry.name for entry in pattern.url_patterns if isinstance(entry, URLPattern)]
    assert names, "the dashboard's URLs were not found"
    return [name for name in names if name and name not in NOT_PAGES]


def test_every_dashboard_page_fits_a_390_px_phone(page: Page, ui_service: LiveService) -> None:
    account = ui_service.create_publisher(balance="7.00")
    project_id = account.project_ids[0]
    filled = json.loads(
        ui_service.shell(
            FILL.format(
                publisher_id=account.id, project_id=project_id, prefix=ui_service.unique("W")
            )
        )
    )
    order_ids = filled["orders"]
    paths = {
        "home": "/home",
        "settings": "/settings",
        "password_change": "/settings/password",
        "billing": "/billing",
        "integrations": "/integrations",
        "shipping_rules": "/integrations/shipping-rules?description=USPS+Priority+Mail+"
        "International+Flat+Rate+Envelope+with+tracking",
        "warehouses": "/integrations/warehouses",
        "warehouse_listings": f"/integrations/warehouses/{filled['warehouse']}/listings",
        "warehouse_orders": f"/integrations/warehouses/{filled['warehouse']}/orders",
        "warehouse_stock": f"/integrations/warehouses/{filled['warehouse']}/stock",
        "warehouse_push": f"/integrations/warehouses/{filled['warehouse']}/push",
        "delivery_detail": f"/integrations/deliveries/{filled['delivery']}",
        "warehouse_carrier_codes": f"/integrations/warehouses/{filled['warehouse']}/carrier-codes",
        "warehouse_rules": f"/integrations/warehouses/{filled['warehouse']}/shipping-rules"
        "?description=Free+Shipping+on+every+order+over+fifty+dollars+%28arrives+in+5-8+"
        "business+days%29",
        "projects": "/projects",
        "project_new": "/projects/new",
        "project_edit": f"/projects/{project_id}",
        "orders": "/orders",
        "order_new": "/orders/new",
        "order_detail": f"/orders/{order_ids[-1]}",
        "order_modify": f"/orders/{order_ids[-1]}/modify",
        "order_address_fix": f"/orders/{order_ids[0]}/address",
        "webhooks": "/integrations/webhooks",
        "webhook_delivery": f"/integrations/webhooks/deliveries/{filled['webhook_delivery']}",
        "sign_in": "/sign-in",
        "password_reset": "/password-reset",
    }
    assert sorted(dashboard_pages()) == sorted(paths), "classify the new dashboard URL"

    page.set_viewport_size(PHONE)
    too_wide: dict[str, tuple[int, list[str]]] = {}
    for name in sorted(SIGNED_OUT_PAGES):
        page.goto(ui_service.url(paths[name]))
        width, offenders = measure(page)
        if width > PHONE["width"]:
            too_wide[name] = (width, offenders)
    sign_in(page, ui_service, account)
    for name, path in paths.items():
        if name in SIGNED_OUT_PAGES:
            continue
        response = page.goto(ui_service.url(path))
        assert response is not None
        assert response.status == 200, (name, response.status)
        width, offenders = measure(page)
        if width > PHONE["width"]:
            too_wide[name] = (width, offenders)
    # The error page too (an unknown address, signed in).
    page.goto(ui_service.url("/no/such/page"))
    width, offenders = measure(page)
    if width > PHONE["width"]:
        too_wide["not_found"] = (width, offenders)
    assert too_wide == {}
