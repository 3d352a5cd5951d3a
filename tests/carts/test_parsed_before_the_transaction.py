"""A cart delivery's body is parsed before the delivery's transaction, which on SQLite holds
the database's write lock (every process's writes, the gateway's orders too, wait for it):
parsing reads the publisher's projects and shipping rules and writes nothing. What was parsed
is used only if the delivery is still pending and its body unchanged once it is locked."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest
from django.db import connection
from django.test import Client

from pressrun.carts import routing
from pressrun.carts.models import InboundDelivery, Outcome, UnmatchedProduct
from pressrun.carts.oneshoppingcart import parse as oneshoppingcart_parse
from pressrun.carts.samcart import parse as samcart_parse
from pressrun.carts.services import delivery_process
from pressrun.carts.shopify import parse as shopify_parse
from pressrun.catalog.models import Project
from pressrun.catalog.services import project_update
from pressrun.core.sealed import seal
from pressrun.orders import services as intake
from pressrun.orders.models import Order
from tests.carts import oneshoppingcart_emulator
from tests.carts.samcart_payloads import as_json
from tests.carts.samcart_payloads import notification as samcart_notification
from tests.carts.shopify_payloads import order_json, shopify_headers

pytestmark = pytest.mark.django_db


@contextmanager
def spied(
    module: Any, name: str, before: Callable[[], None] = lambda: None
) -> Iterator[list[bool]]:
    """Whether a transaction was open at each call of `module.name` (`before` runs first)."""
    in_transaction: list[bool] = []
    original = getattr(module, name)

    def spy(*args: Any, **kwargs: Any) -> Any:
        in_transaction.append(connection.in_atomic_block)
        before()
        return original(*args, **kwargs)

    with mock.patch.object(module, name, spy):
        yield in_transaction


def shopify_delivery(make_publisher: Any, make_project: Any) -> InboundDelivery:
    publisher = make_publisher(balance="100")
    make_project(publisher, title="Greatest Hits CD", ecommerce_ids="{VTD234-100}")
    response = Client().post(
        f"/carts/shopify?idpub={publisher.id}&token={publisher.cart_token}",
        data=order_json(),
        content_type="application/json",
        **shopify_headers(),
    )
    assert response.status_code == 200
    return InboundDelivery.objects.get()


def assert_one_copy_ordered_at(delivery: InboundDelivery, price: Decimal) -> None:
    """`delivery` made the one order there is: one copy at `price`."""
    order = Order.objects.get()
    assert (delivery.outcome, delivery.reason) == (Outcome.ORDER_CREATED, f"Order {order.id}.")
    assert [(line.quantity, line.unit_price) for line in order.lines.all()] == [(1, price)]
    assert order.products_cost == price


@pytest.mark.django_db(transaction=True)
def test_a_shopify_order_is_parsed_outside_the_transaction(
    make_publisher: Any, make_project: Any
) -> None:
    delivery = shopify_delivery(make_publisher, make_project)
    with spied(shopify_parse, "parse_order") as in_transaction:
        delivery = delivery_process(delivery_id=delivery.id)
    assert in_transaction == [False]
    assert delivery.outcome == Outcome.ORDER_CREATED
    assert list(delivery.orders.all()) == [Order.objects.get()]


@pytest.mark.django_db(transaction=True)
def test_a_shopify_order_is_prepared_for_intake_outside_the_transaction(
    make_publisher: Any, make_project: Any
) -> None:
    # Intake's reads, validation and pricing, and the compiling of its statements, are done
    # once, before the delivery's transaction; inside it only the write runs.
    delivery = shopify_delivery(make_publisher, make_project)
    with (
        spied(intake, "_prepare") as prepared,
        spied(intake, "_compiled_write") as compiled,
    ):
        delivery = delivery_process(delivery_id=delivery.id)
    assert (prepared, compiled) == ([False], [False])
    assert_one_copy_ordered_at(delivery, Decimal("4.50"))


def test_a_price_changed_after_the_order_was_prepared_is_the_one_charged(
    make_publisher: Any, make_project: Any
) -> None:
    # The product as intake kept it when it prepared the order changed before the write:
    # the write finds it changed, writes nothing, and the order is prepared again inside.
    delivery = shopify_delivery(make_publisher, make_project)
    project = Project.objects.get()
    original = intake.order_prepare

    def prepare_then_change_the_price(**kwargs: Any) -> Any:
        prepared = original(**kwargs)
        project_update(project=project, price=Decimal("6.25"))
        return prepared

    with (
        mock.patch.object(routing, "order_prepare", prepare_then_change_the_price),
        spied(intake, "_prepare") as prepared,
        spied(intake, "_write") as written,
    ):
        delivery = delivery_process(delivery_id=delivery.id)
    # The prepared write found the row changed and wrote nothing; prepared again, written.
    assert (len(prepared), len(written)) == (2, 2)
    assert_one_copy_ordered_at(delivery, Decimal("6.25"))


def test_a_shopify_delivery_processed_while_it_was_parsed_makes_one_order(
    make_publisher: Any, make_project: Any
) -> None:
    delivery = shopify_delivery(make_publisher, make_project)
    original = shopify_parse.parse_order
    calls: list[bool] = []

    def parse_while_another_worker_processes_it(**kwargs: Any) -> Any:
        calls.append(True)
        if len(calls) == 1:
            # Another worker processes the delivery between this one's parse and its lock.
            assert delivery_process(delivery_id=delivery.id).outcome == Outcome.ORDER_CREATED
        return original(**kwargs)

    with mock.patch.object(shopify_parse, "parse_order", parse_while_another_worker_processes_it):
        assert delivery_process(delivery_id=delivery.id).outcome == Outcome.ORDER_CREATED
    assert len(calls) == 2
    order = Order.objects.get()
    delivery.refresh_from_db()
    assert (delivery.outcome, delivery.reason, delivery.attempts) == (
        Outcome.ORDER_CREATED,
        f"Order {order.id}.",
        1,
    )
    assert list(delivery.orders.all()) == [order]


def test_a_body_changed_while_it_was_parsed_is_parsed_again(
    make_publisher: Any, make_project: Any
) -> None:
    delivery = shopify_delivery(make_publisher, make_project)
    original = shopify_parse.parse_order

    def parse_then_empty_the_body(**kwargs: Any) -> Any:
        parsed = original(**kwargs)
        InboundDelivery.objects.filter(id=delivery.id).update(body=b"")
        return parsed

    with (
        mock.patch.object(shopify_parse, "parse_order", parse_then_empty_the_body),
        spied(shopify_parse, "load_order") as loaded,
    ):
        delivery = delivery_process(delivery_id=delivery.id)
    assert len(loaded) == 2
    with pytest.raises(shopify_parse.PayloadInvalid) as refused:
        shopify_parse.load_order(b"")
    assert (delivery.outcome, delivery.reason) == (Outcome.FAILED, str(refused.value))
    assert not Order.objects.exists()


def test_a_mapping_saved_while_a_shopify_order_was_parsed_counts(
    make_publisher: Any, make_project: Any
) -> None:
    # The line names no project when the order is parsed; the publisher maps it before the
    # delivery is locked. Mapping reprocesses only unmatched deliveries, not this pending
    # one, so the delivery itself must see the mapping.
    delivery = shopify_delivery(make_publisher, make_project)
    project = Project.objects.get()
    project_update(project=project, ecommerce_ids="{OTHER-SKU}")
    original = shopify_parse.parse_order
    calls: list[bool] = []

    def parse_while_the_publisher_maps_it(**kwargs: Any) -> Any:
        parsed = original(**kwargs)
        calls.append(True)
        if len(calls) == 1:
            project_update(project=project, ecommerce_ids="{VTD234-100}")
        return parsed

    with mock.patch.object(shopify_parse, "parse_order", parse_while_the_publisher_maps_it):
        delivery = delivery_process(delivery_id=delivery.id)
    assert len(calls) == 2
    order = Order.objects.get()
    assert (delivery.outcome, delivery.reason) == (Outcome.ORDER_CREATED, f"Order {order.id}.")
    assert [(line.project_id, line.quantity) for line in order.lines.all()] == [(project.id, 1)]
    assert not UnmatchedProduct.objects.filter(resolved_at__isnull=True).exists()


@pytest.mark.django_db(transaction=True)
def test_a_samcart_order_is_parsed_and_prepared_once_outside_the_transaction(
    make_publisher: Any, make_project: Any
) -> None:
    publisher = make_publisher(balance="100")
    make_project(publisher, title="Greatest Hits CD", ecommerce_ids="{294010}")
    make_project(publisher, title="Live DVD", ecommerce_ids="{300111}")
    for product_id in ("294010", "300111"):
        response = Client().post(
            f"/carts/samcart?idpub={publisher.id}&token={publisher.cart_token}",
            data=as_json(samcart_notification(product_id=product_id)),
            content_type="application/json",
        )
        assert response.status_code == 200
    first, second = InboundDelivery.objects.order_by("id")
    with (
        spied(samcart_parse, "load_notification") as decoded,
        spied(samcart_parse, "parse_group") as grouped,
        spied(intake, "_prepare") as prepared,
    ):
        delivery_process(delivery_id=second.id)
    assert (decoded, grouped, prepared) == ([False, False], [False], [False])
    order = Order.objects.get()
    assert [(d.id, d.outcome) for d in InboundDelivery.objects.order_by("id")] == [
        (first.id, Outcome.ORDER_CREATED),
        (second.id, Outcome.DUPLICATE),
    ]
    assert order.lines.count() == 2


def test_a_samcart_notification_that_arrives_while_its_order_is_parsed_joins_it(
    make_publisher: Any, make_project: Any
) -> None:
    publisher = make_publisher(balance="100")
    for number, product_id in enumerate(("294010", "300111", "300222")):
        make_project(publisher, title=f"CD {number}", ecommerce_ids=f"{{{product_id}}}")

    def notify(product_id: str) -> None:
        response = Client().post(
            f"/carts/samcart?idpub={publisher.id}&token={publisher.cart_token}",
            data=as_json(samcart_notification(product_id=product_id)),
            content_type="application/json",
        )
        assert response.status_code == 200

    notify("294010")
    notify("300111")
    original = samcart_parse.parse_group
    sizes: list[int] = []

    def parse_while_a_third_arrives(**kwargs: Any) -> Any:
        sizes.append(len(kwargs["notifications"]))
        if len(sizes) == 1:
            notify("300222")
        return original(**kwargs)

    first = InboundDelivery.objects.order_by("id").first()
    assert first is not None
    with mock.patch.object(samcart_parse, "parse_group", parse_while_a_third_arrives):
        delivery_process(delivery_id=first.id)
    assert sizes == [2, 3]
    order = Order.objects.get()
    assert order.lines.count() == 3
    assert [d.outcome for d in InboundDelivery.objects.order_by("id")] == [
        Outcome.ORDER_CREATED,
        Outcome.DUPLICATE,
        Outcome.DUPLICATE,
    ]


@pytest.mark.django_db(transaction=True)
def test_a_1shoppingcart_order_is_built_and_prepared_outside_the_transaction(
    make_publisher: Any, make_project: Any, settings: Any
) -> None:
    publisher = make_publisher(balance="100")
    publisher.oneshoppingcart_merchant_id = oneshoppingcart_emulator.MERCHANT_ID
    publisher.oneshoppingcart_api_key_sealed = seal(oneshoppingcart_emulator.API_KEY)
    publisher.save()
    make_project(publisher, title="Greatest Hits CD", ecommerce_ids="<5000-A>")
    with oneshoppingcart_emulator.running() as api:
        settings.PRESSRUN_ONESHOPPINGCART_API_URL = api.base_url
        api.add_order("81234567", lines=[("5000-A", 2, "Greatest Hits")])
        response = Client().post(
            f"/carts/1shoppingcart?TSMode=prod&TSPub={publisher.id}&token={publisher.cart_token}",
            data=oneshoppingcart_emulator.notification("81234567"),
            content_type="text/xml",
        )
        assert response.status_code == 200
        with (
            spied(oneshoppingcart_parse, "build_request") as in_transaction,
            spied(intake, "_prepare") as prepared,
        ):
            delivery = delivery_process(delivery_id=InboundDelivery.objects.get().id)
    assert (in_transaction, prepared) == ([False], [False])
    assert delivery.outcome == Outcome.ORDER_CREATED
    assert [(line.quantity,) for line in Order.objects.get().lines.all()] == [(2,)]


def test_a_mapping_saved_while_a_1shoppingcart_order_was_built_counts(
    make_publisher: Any, make_project: Any, settings: Any
) -> None:
    publisher = make_publisher(balance="100")
    publisher.oneshoppingcart_merchant_id = oneshoppingcart_emulator.MERCHANT_ID
    publisher.oneshoppingcart_api_key_sealed = seal(oneshoppingcart_emulator.API_KEY)
    publisher.save()
    project = make_project(publisher, title="Greatest Hits CD", ecommerce_ids="<OTHER-SKU>")
    original = oneshoppingcart_parse.build_request
    calls: list[bool] = []

    def build_while_the_publisher_maps_it(**kwargs: Any) -> Any:
        built = original(**kwargs)
        calls.append(True)
        if len(calls) == 1:
            project_update(project=project, ecommerce_ids="<5000-A>")
        return built

    with oneshoppingcart_emulator.running() as api:
        settings.PRESSRUN_ONESHOPPINGCART_API_URL = api.base_url
        api.add_order("81234567", lines=[("5000-A", 2, "Greatest Hits")])
        response = Client().post(
            f"/carts/1shoppingcart?TSMode=prod&TSPub={publisher.id}&token={publisher.cart_token}",
            data=oneshoppingcart_emulator.notification("81234567"),
            content_type="text/xml",
        )
        assert response.status_code == 200
        with mock.patch.object(
            oneshoppingcart_parse, "build_request", build_while_the_publisher_maps_it
        ):
            delivery = delivery_process(delivery_id=InboundDelivery.objects.get().id)
    assert len(calls) == 2
    assert delivery.outcome == Outcome.ORDER_CREATED
    assert [(line.project_id, line.quantity) for line in Order.objects.get().lines.all()] == [
        (project.id, 2)
    ]
