"""The customer's address-change page behind the order notification's link."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from pressrun.fulfillment.services import fulfillment_move
from pressrun.orders.models import Order, OrderEvent
from pressrun.orders.requests import LineRequest, OrderRequest, RecipientRequest
from pressrun.orders.services import order_place
from tests.fulfillment.support import ship, today

pytestmark = pytest.mark.django_db

NEW_ADDRESS = {
    "name": "Ann  Buyer",
    "company": "",
    "address": "9 Ocean Ave",
    "city": "Santa Monica",
    "state": "california",
    "postal_code": "90401",
    "country": "United States",
}


@pytest.fixture(autouse=True)
def _quiet_tasks(settings: Any) -> None:
    # Placing orders queues notification tasks; they are not what these tests look at.
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}


@pytest.fixture
def publisher(make_publisher: Any) -> Any:
    return make_publisher(email="label@example.com", company="Acme <Discs>", balance="100")


@pytest.fixture
def order(publisher: Any, make_project: Any) -> Order:
    project = make_project(publisher, title="Greatest Hits", price=Decimal("4.50"))
    request = OrderRequest(
        publisher_id=publisher.id,
        lines=(LineRequest(project_id=project.id, quantity=2),),
        recipient=RecipientRequest(
            name="<script>alert(1)</script>",
            address="1 Main St",
            city="Austin",
            state="TX",
            postal_code="78701",
            email="ann@example.com",
        ),
        mode="prod",
        source="gateway",
    )
    return order_place(request=request, publisher=publisher)


def url(order: Order) -> str:
    return f"/c/{order.customer_token}"


def snapshot(order: Order) -> tuple[Any, ...]:
    order.refresh_from_db()
    return (
        order.name,
        order.address,
        order.city,
        order.state,
        order.postal_code,
        order.country,
        order.total_cost,
        list(OrderEvent.objects.filter(order=order).values_list("kind", flat=True)),
    )


def test_get_shows_the_order_and_the_form(order: Order) -> None:
    response = Client().get(url(order))
    assert response.status_code == 200
    page = response.content.decode()
    assert f"<h1>Order {order.id}</h1>" in page
    assert "Acme &lt;Discs&gt;" in page
    assert "2 \N{MULTIPLICATION SIGN}</span> Greatest Hits" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>" not in page
    deadline = order.created_at + timedelta(hours=12)
    assert f"You can correct it until <strong>{deadline:%Y-%m-%d %H:%M} UTC</strong>" in page
    assert 'name="csrfmiddlewaretoken"' in page
    assert 'value="1 Main St"' in page
    assert 'href="/static/customers/customer.css"' in page
    assert "style=" not in page
    assert response["Referrer-Policy"] == "same-origin"
    assert "no-store" in response["Cache-Control"]
    assert "script-src 'self'" in response["Content-Security-Policy"]


def test_the_country_is_shown_by_name_and_kept_on_a_resave(order: Order) -> None:
    Order.objects.filter(id=order.id).update(
        city="London", state="", postal_code="SW1A 1AA", country="GB"
    )
    page = Client().get(url(order)).content.decode()
    assert "London SW1A 1AA<br>\n      United Kingdom\n    </address>" in page
    assert 'value="United Kingdom"' in page
    assert ">GB<" not in page
    assert 'value="GB"' not in page
    # The form sent back as shown keeps the country (the name is read back as the code).
    form = {
        "name": "Ann Buyer",
        "company": "",
        "address": "1 Main St",
        "city": "London",
        "state": "",
        "postal_code": "SW1A 1AA",
        "country": "United Kingdom",
    }
    assert Client().post(url(order), form).status_code == 302
    assert Order.objects.get(id=order.id).country == "GB"


def test_unknown_token_is_404(order: Order) -> None:
    client = Client()
    assert client.get("/c/" + "x" * 32).status_code == 404
    assert client.post("/c/" + "x" * 32, NEW_ADDRESS).status_code == 404
    assert client.get("/c/short").status_code == 404


def test_an_order_deleted_while_the_page_was_open_is_404(order: Order) -> None:
    """The page passed its checks, then the order was deleted."""
    from unittest import mock

    from pressrun.billing.models import LedgerEntry
    from pressrun.customers import views

    page_order = views.order_by_customer_token(order.customer_token)
    LedgerEntry.objects.filter(order=order).delete()  # the fixture's order is paid
    Order.objects.filter(id=order.id).delete()
    with mock.patch.object(views, "order_by_customer_token", return_value=page_order):
        response = Client().post(url(order), NEW_ADDRESS)
    assert response.status_code == 404
    assert not Order.objects.filter(id=order.id).exists()


def test_a_valid_change_is_normalized_and_recorded(order: Order) -> None:
    client = Client(enforce_csrf_checks=True)
    page = client.get(url(order))
    token = page.cookies["csrftoken"].value
    response = client.post(url(order), {**NEW_ADDRESS, "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert response["Location"] == f"{url(order)}?saved=1"

    order.refresh_from_db()
    assert (
        order.name,
        order.address,
        order.city,
        order.state,
        order.postal_code,
        order.country,
    ) == ("Ann Buyer", "9 Ocean Ave", "Santa Monica", "CA", "90401", "US")
    event = OrderEvent.objects.get(order=order, kind="address_corrected")
    assert event.actor == "customer"
    assert event.message == (
        "Address corrected: <script>alert(1)</script>, 1 Main St, Austin, TX 78701, US → "
        "Ann Buyer, 9 Ocean Ave, Santa Monica, CA 90401, US."
    )

    after = client.get(response["Location"]).content.decode()
    assert "Your address was updated." in after
    assert "9 Ocean Ave<br>" in after
    assert "Santa Monica, CA 90401<br>" in after


def test_csrf_is_enforced(order: Order) -> None:
    before = snapshot(order)
    response = Client(enforce_csrf_checks=True).post(url(order), NEW_ADDRESS)
    assert response.status_code == 403
    page = response.content.decode()
    assert "<h1>The form could not be sent</h1>" in page
    assert "nothing was saved. Go back, reload the page and send the form again." in " ".join(
        page.split()
    )
    assert "<style" not in page
    assert "style=" not in page
    assert snapshot(order) == before


def test_the_form_posted_from_the_page_itself_passes_the_origin_check(order: Order) -> None:
    """What a browser sends under the page's Referrer-Policy: its own origin, never `null`."""
    client = Client(enforce_csrf_checks=True)
    page = client.get(url(order)).content.decode()
    token = page.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
    refused = client.post(
        url(order), {**NEW_ADDRESS, "csrfmiddlewaretoken": token}, headers={"Origin": "null"}
    )
    assert refused.status_code == 403
    saved = client.post(
        url(order),
        {**NEW_ADDRESS, "csrfmiddlewaretoken": token},
        headers={"Origin": "http://testserver"},
    )
    assert saved.status_code == 302
    order.refresh_from_db()
    assert (order.city, order.state) == ("Santa Monica", "CA")


@pytest.mark.parametrize(
    ("changes", "field_error"),
    [
        ({"country": "Atlantis"}, "Country"),
        ({"state": "Narnia"}, "State"),
        ({"name": "   "}, "This field is required."),
        ({"city": ""}, "This field is required."),
        ({"address": "x" * 201}, "Ensure this value has at most 200 characters (it has 201)."),
        ({"postal_code": ""}, "Zip / postal code is required for addresses in United States."),
    ],
)
def test_invalid_input_shows_errors_and_writes_nothing(
    order: Order, changes: dict[str, str], field_error: str
) -> None:
    before = snapshot(order)
    response = Client().post(url(order), {**NEW_ADDRESS, **changes})
    assert response.status_code == 200
    page = response.content.decode()
    assert 'class="error"' in page
    assert field_error in page
    assert snapshot(order) == before


def test_the_errors_are_beside_their_field(order: Order) -> None:
    response = Client().post(url(order), {**NEW_ADDRESS, "state": "Narnia"})
    page = response.content.decode()
    state_field = page.split('for="id_state"')[1].split('<div class="field')[0]
    assert 'class="error" id="id_state-error"' in state_field
    # What the customer typed stays in the form.
    assert 'value="9 Ocean Ave"' in page


def test_after_the_postage_delay_it_is_too_late(order: Order) -> None:
    Order.objects.filter(id=order.id).update(
        created_at=timezone.now() - timedelta(hours=13),
        address_changes_until=timezone.now() - timedelta(hours=1),
    )
    before = snapshot(order)
    client = Client()
    page = client.get(url(order)).content.decode()
    assert "Too late to change the address" in page
    assert "postage is being printed" in page
    assert 'Please contact Acme &lt;Discs&gt; at <a href="mailto:label@example.com">' in page
    assert "<form" not in page

    response = client.post(url(order), NEW_ADDRESS)
    assert response.status_code == 200
    assert "Too late to change the address" in response.content.decode()
    assert snapshot(order) == before


def test_the_deadline_is_fixed_when_the_order_is_placed(order: Order, publisher: Any) -> None:
    """The notification told the customer a deadline; changing the publisher's postage delay
    afterwards applies to new orders only."""
    assert order.address_changes_until == order.created_at + timedelta(hours=12)
    publisher.postage_delay_hours = 0
    publisher.save(update_fields=["postage_delay_hours"])
    page = Client().get(url(order)).content.decode()
    assert "Too late" not in page
    assert "<form" in page
    publisher.postage_delay_hours = 48
    publisher.save(update_fields=["postage_delay_hours"])
    Order.objects.filter(id=order.id).update(
        address_changes_until=timezone.now() - timedelta(seconds=1)
    )
    assert "Too late to change the address" in Client().get(url(order)).content.decode()


def test_the_page_names_the_contact_email(order: Order, publisher: Any) -> None:
    publisher.customer_contact_email = "help@acme.example"
    publisher.save(update_fields=["customer_contact_email"])
    Order.objects.filter(id=order.id).update(
        address_changes_until=timezone.now() - timedelta(seconds=1)
    )
    page = Client().get(url(order)).content.decode()
    assert 'at <a href="mailto:help@acme.example">' in page
    assert "label@example.com" not in page


def test_a_shipped_order_is_too_late(order: Order) -> None:
    ship(order, tracking_id="9400 1")
    before = snapshot(order)
    client = Client()
    page = client.get(url(order)).content.decode()
    assert f"Shipped on {today():%Y-%m-%d}" in page
    assert "the order has shipped" in page
    assert (
        '<a href="https://tools.usps.com/go/TrackConfirmAction?tLabels=9400%201" '
        'rel="noreferrer">9400 1</a>'
    ) in page
    response = client.post(url(order), NEW_ADDRESS)
    assert "Too late to change the address" in response.content.decode()
    assert snapshot(order) == before


@pytest.mark.parametrize(
    ("carrier", "shown"),
    [
        (
            "FedEx",
            'Tracking number (FedEx): <a href="https://www.fedex.com/fedextrack/?trknbr=7712" '
            'rel="noreferrer">7712</a>',
        ),
        ("Acme <Freight>", "Tracking number (Acme &lt;Freight&gt;): 7712</p>"),
    ],
)
def test_a_shipped_order_names_its_carrier(order: Order, carrier: str, shown: str) -> None:
    ship(order, tracking_id="7712", carrier=carrier)
    assert shown in Client().get(url(order)).content.decode()


def test_a_cancelled_order_is_too_late(order: Order) -> None:
    fulfillment_move(order_id=order.id, to="cancelled", actor="operator", reason="Refund asked.")
    before = snapshot(order)
    client = Client()
    page = client.get(url(order)).content.decode()
    assert "Cancelled" in page
    assert "the order was cancelled" in page
    response = client.post(url(order), NEW_ADDRESS)
    assert "Too late to change the address" in response.content.decode()
    assert snapshot(order) == before


def test_changes_not_offered(order: Order, publisher: Any) -> None:
    publisher.customer_address_changes = False
    publisher.save(update_fields=["customer_address_changes"])
    before = snapshot(order)
    client = Client()
    page = client.get(url(order)).content.decode()
    assert "Address changes are not offered online for this order." in page
    assert "<form" not in page
    client.post(url(order), NEW_ADDRESS)
    assert snapshot(order) == before


def test_a_paid_order_keeps_its_country(order: Order) -> None:
    before = snapshot(order)
    response = Client().post(
        url(order), {**NEW_ADDRESS, "country": "Canada", "state": "ON", "postal_code": "K1A 0B1"}
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "The order is paid for delivery in its country" in page
    assert 'class="notice notice-error" role="alert"' in page
    assert snapshot(order) == before


def test_one_order_link_never_shows_another_order(
    order: Order, make_publisher: Any, make_project: Any
) -> None:
    other_publisher = make_publisher(company="Other Label")
    project = make_project(other_publisher, title="Secret Album")
    other = order_place(
        request=OrderRequest(
            publisher_id=other_publisher.id,
            lines=(LineRequest(project_id=project.id, quantity=1),),
            recipient=RecipientRequest(
                name="Bob Other",
                address="2 Side St",
                city="Boston",
                state="MA",
                postal_code="02108",
            ),
            mode="prod",
            source="gateway",
        ),
        publisher=other_publisher,
    )
    page = Client().get(url(order)).content.decode()
    assert "Secret Album" not in page
    assert "Bob Other" not in page
    assert other.customer_token != order.customer_token


def test_other_methods_are_refused(order: Order) -> None:
    assert Client().put(url(order)).status_code == 405
    assert Client().delete(url(order)).status_code == 405


def test_the_stylesheet_is_served(order: Order) -> None:
    from django.contrib.staticfiles import finders

    path = finders.find("customers/customer.css")
    assert isinstance(path, str)
    assert "max-width: 36rem" in Path(path).read_text(encoding="utf-8")


# --- the address is no longer shown some days after shipping -------------------------------


def ship_days_ago(order: Order, *, days_ago: int) -> None:
    """Ship the order, then date its shipment (and its placing) `days_ago` back, as an order
    shipped that long ago would be."""
    ship(order, tracking_id="9400 7")
    back = timedelta(days=days_ago)
    Order.objects.filter(id=order.id).update(
        ship_date=today() - back, created_at=order.created_at - back
    )


ADDRESS_PARTS = ("1 Main St", "Austin", "TX 78701", "United States", "&lt;script&gt;", "9400 7")


@pytest.mark.parametrize("days_ago", [14, 15, 400])
def test_the_address_is_hidden_from_14_days_after_shipping(order: Order, days_ago: int) -> None:
    ship_days_ago(order, days_ago=days_ago)
    page = Client().get(url(order)).content.decode()
    shipped = timezone.now().date() - timedelta(days=days_ago)
    assert f"Shipped on {shipped:%Y-%m-%d}" in page
    assert (
        "To keep the shipping address private, this page shows it, and the items, only for 14 "
        f"days after an order ships. This order shipped on {shipped:%Y-%m-%d}."
    ) in page
    for part in (*ADDRESS_PARTS, "Greatest Hits", "Shipping address", "<form"):
        assert part not in page, part
    assert 'href="mailto:label@example.com"' in page


@pytest.mark.parametrize("days_ago", [0, 13])
def test_the_address_is_shown_until_then(order: Order, days_ago: int) -> None:
    ship_days_ago(order, days_ago=days_ago)
    page = Client().get(url(order)).content.decode()
    for part in (*ADDRESS_PARTS, "Greatest Hits"):
        assert part in page, part


def test_the_number_of_days_is_a_setting(order: Order, settings: Any) -> None:
    settings.CUSTOMER_ADDRESS_VISIBLE_DAYS = 0
    ship_days_ago(order, days_ago=0)
    page = Client().get(url(order)).content.decode()
    assert "1 Main St" not in page
    assert "only for 0 days after an order ships" in page
    settings.CUSTOMER_ADDRESS_VISIBLE_DAYS = 30
    assert "1 Main St" in Client().get(url(order)).content.decode()


def test_an_order_not_shipped_shows_its_address_however_old(order: Order) -> None:
    Order.objects.filter(id=order.id).update(created_at=timezone.now() - timedelta(days=90))
    assert "1 Main St" in Client().get(url(order)).content.decode()


def test_a_post_on_a_hidden_page_changes_nothing_and_shows_nothing(order: Order) -> None:
    ship_days_ago(order, days_ago=20)
    before = snapshot(order)
    response = Client().post(url(order), NEW_ADDRESS)
    page = response.content.decode()
    assert "1 Main St" not in page
    assert "Ocean Ave" not in page
    assert snapshot(order) == before
