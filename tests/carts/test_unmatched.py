"""Unmatched cart products: recorded once per product with the deliveries that carried them,
listed for the publisher, and re-processed after a mapping fix."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from pressrun.carts.models import Cart, InboundDelivery, Outcome, UnmatchedProduct
from pressrun.carts.selectors import unmatched_products_open
from pressrun.carts.services import (
    MappingRefused,
    UnmatchedProductNotFound,
    delivery_process,
    unmatched_map_to_project,
    unmatched_reprocess,
)
from pressrun.carts.unmatched import CartProduct, unmatched_record
from pressrun.catalog.models import ProjectCartId
from pressrun.orders.models import Order
from tests.carts.samcart_payloads import as_json, notification
from tests.carts.shopify_payloads import order_json, shopify_headers
from tests.threads import run_together, skip_unless_threads_share_the_database

pytestmark = pytest.mark.django_db


@pytest.fixture
def publisher(make_publisher: Any) -> Any:
    return make_publisher(balance="100")


def post_shopify(publisher: Any, body: bytes, webhook_id: str) -> InboundDelivery:
    response = Client().post(
        f"/carts/shopify?idpub={publisher.id}&token={publisher.cart_token}",
        data=body,
        content_type="application/json",
        **shopify_headers(webhook_id=webhook_id),
    )
    assert response.status_code == 200
    return InboundDelivery.objects.get(delivery_id=webhook_id)


def post_samcart(publisher: Any, data: dict[str, Any]) -> None:
    response = Client().post(
        f"/carts/samcart?idpub={publisher.id}&token={publisher.cart_token}",
        data=as_json(data),
        content_type="application/json",
    )
    assert response.status_code == 200


def process_pending() -> list[InboundDelivery]:
    pending = InboundDelivery.objects.filter(outcome=Outcome.PENDING).order_by("id")
    return [delivery_process(delivery_id=d.id) for d in list(pending)]


def rows() -> list[tuple[str, str, str, int]]:
    return list(
        UnmatchedProduct.objects.order_by("product_ref").values_list(
            "cart", "product_ref", "title", "times_seen"
        )
    )


def linked(product_ref: str) -> list[int]:
    product = UnmatchedProduct.objects.get(product_ref=product_ref)
    return sorted(product.deliveries.values_list("id", flat=True))


def queued_tasks() -> int:
    return DBTaskResult.objects.count()


class TestRecording:
    def test_an_order_with_no_matching_line_records_each_product_once(self, publisher: Any) -> None:
        body = order_json(
            skus=(("POSTER-9", 1, "Tour poster"), (None, 1, "Gift wrap"), ("POSTER-9", 2, "Poster"))
        )
        delivery = post_shopify(publisher, body, "w-1")
        (processed,) = process_pending()
        assert processed.outcome == Outcome.UNMATCHED
        assert not Order.objects.exists()
        # A line without SKU is named by its variant id: what a mapping can list.
        assert rows() == [
            ("shopify", "39072857", "Gift wrap", 1),
            ("shopify", "POSTER-9", "Poster", 1),  # the last title sent
        ]
        assert linked("POSTER-9") == linked("39072857") == [delivery.id]
        product = UnmatchedProduct.objects.get(product_ref="POSTER-9")
        assert product.first_seen_at == product.last_seen_at
        assert product.resolved_at is None

    def test_a_product_seen_again_counts_deliveries_not_replays(self, publisher: Any) -> None:
        first = post_shopify(publisher, order_json(skus=(("MUG", 1, "Mug"),)), "w-1")
        process_pending()
        second = post_shopify(
            publisher, order_json(order_id="2", name="#2", skus=(("MUG", 3, "Big mug"),)), "w-2"
        )
        process_pending()
        assert rows() == [("shopify", "MUG", "Big mug", 2)]
        assert linked("MUG") == [first.id, second.id]
        # Re-processing the same delivery (still unmatched) does not count it again.
        assert (
            unmatched_reprocess(
                publisher=publisher, unmatched_product_id=UnmatchedProduct.objects.get().id
            )
            == 2
        )
        process_pending()
        assert rows() == [("shopify", "MUG", "Big mug", 2)]
        product = UnmatchedProduct.objects.get()
        assert product.last_seen_at > product.first_seen_at
        assert product.resolved_at is None

    def test_a_partial_match_creates_the_order_and_records_the_skipped_lines(
        self, publisher: Any, make_project: Any
    ) -> None:
        cd = make_project(publisher, title="CD", ecommerce_ids="{VTD234-100}")
        delivery = post_shopify(
            publisher,
            order_json(skus=(("VTD234-100", 1, "CD"), ("SHIRT-L", 1, "Shirt"))),
            "w-1",
        )
        (processed,) = process_pending()
        assert processed.outcome == Outcome.ORDER_CREATED
        assert "SKU 'SHIRT-L' (Shirt)" in processed.reason
        order = Order.objects.get()
        assert [(line.project_id, line.quantity) for line in order.lines.all()] == [(cd.id, 1)]
        assert rows() == [("shopify", "SHIRT-L", "Shirt", 1)]
        assert linked("SHIRT-L") == [delivery.id]
        # The delivery made its order: mapping the shirt later re-processes nothing.
        make_project(publisher, title="Shirt CD", ecommerce_ids="{SHIRT-L}")
        product = UnmatchedProduct.objects.get()
        assert unmatched_reprocess(publisher=publisher, unmatched_product_id=product.id) == 0
        assert Order.objects.count() == 1

    def test_a_custom_line_without_any_id_is_named_but_not_recorded(self, publisher: Any) -> None:
        body = order_json(skus=((None, 1, "Handwritten note"),))
        body = body.replace(b'"variant_id": 39072856', b'"variant_id": null').replace(
            b'"product_id": 632910392', b'"product_id": null'
        )
        post_shopify(publisher, body, "w-1")
        (processed,) = process_pending()
        assert processed.outcome == Outcome.UNMATCHED
        assert "Handwritten note" in processed.reason
        assert not UnmatchedProduct.objects.exists()

    def test_samcart_links_each_product_to_the_notification_that_carried_it(
        self, publisher: Any
    ) -> None:
        post_samcart(publisher, notification(product_id="111", product_name="Poster"))
        post_samcart(publisher, notification(product_id="222", product_name="Mug"))
        first, second = InboundDelivery.objects.order_by("id")
        processed = process_pending()
        assert [d.outcome for d in processed] == [Outcome.UNMATCHED, Outcome.UNMATCHED]
        assert "product '111' (Poster); product '222' (Mug)" in processed[0].reason
        assert rows() == [("samcart", "111", "Poster", 1), ("samcart", "222", "Mug", 1)]
        assert linked("111") == [first.id]
        assert linked("222") == [second.id]

    def test_seeing_a_resolved_product_again_reopens_it(self, publisher: Any) -> None:
        post_shopify(publisher, order_json(skus=(("MUG", 1, "Mug"),)), "w-1")
        process_pending()
        UnmatchedProduct.objects.update(resolved_at=timezone.now())
        post_shopify(
            publisher, order_json(order_id="2", name="#2", skus=(("MUG", 1, "Mug"),)), "w-2"
        )
        process_pending()
        product = UnmatchedProduct.objects.get()
        assert (product.times_seen, product.resolved_at) == (2, None)


class TestReprocess:
    def test_after_a_mapping_fix_exactly_one_order_is_made(
        self, publisher: Any, make_project: Any
    ) -> None:
        delivery = post_shopify(publisher, order_json(skus=(("POSTER-9", 2, "Poster"),)), "w-1")
        process_pending()
        product = UnmatchedProduct.objects.get()
        project = make_project(publisher, title="Poster CD", ecommerce_ids="<POSTER-9>")

        assert unmatched_reprocess(publisher=publisher, unmatched_product_id=product.id) == 1
        delivery.refresh_from_db()
        assert delivery.outcome == Outcome.PENDING
        product.refresh_from_db()
        assert product.resolved_at is not None
        (processed,) = process_pending()
        assert processed.outcome == Outcome.ORDER_CREATED
        order = Order.objects.get()
        assert [(line.project_id, line.quantity) for line in order.lines.all()] == [(project.id, 2)]

        tasks = queued_tasks()
        assert unmatched_reprocess(publisher=publisher, unmatched_product_id=product.id) == 0
        assert process_pending() == []
        assert Order.objects.count() == 1
        assert queued_tasks() == tasks

    def test_without_a_fix_the_product_stays_open(self, publisher: Any) -> None:
        post_shopify(publisher, order_json(skus=(("POSTER-9", 1, "Poster"),)), "w-1")
        process_pending()
        product = UnmatchedProduct.objects.get()
        assert unmatched_reprocess(publisher=publisher, unmatched_product_id=product.id) == 1
        (processed,) = process_pending()
        assert processed.outcome == Outcome.UNMATCHED
        product.refresh_from_db()
        assert (product.resolved_at, product.times_seen) == (None, 1)

    def test_method_2_counts_as_a_fix_for_shopify(self, publisher: Any, make_project: Any) -> None:
        project = make_project(publisher, title="Plain")
        UnmatchedProduct.objects.create(
            publisher=publisher,
            cart=Cart.SHOPIFY,
            product_ref=str(project.id),
            first_seen_at=timezone.now(),
            last_seen_at=timezone.now(),
        )
        product = UnmatchedProduct.objects.get()
        assert unmatched_reprocess(publisher=publisher, unmatched_product_id=product.id) == 0
        product.refresh_from_db()
        assert product.resolved_at is not None

    def test_samcart_requeues_the_whole_order(self, publisher: Any, make_project: Any) -> None:
        post_samcart(publisher, notification(product_id="111", product_name="Poster", quantity=2))
        post_samcart(publisher, notification(product_id="222", product_name="Mug"))
        process_pending()
        poster = make_project(publisher, title="Poster CD", ecommerce_ids="{111}")
        product = UnmatchedProduct.objects.get(product_ref="111")
        assert unmatched_reprocess(publisher=publisher, unmatched_product_id=product.id) == 2
        first, second = process_pending()
        assert (first.outcome, second.outcome) == (Outcome.ORDER_CREATED, Outcome.DUPLICATE)
        assert "product '222' (Mug)" in first.reason
        order = Order.objects.get()
        assert [(line.project_id, line.quantity) for line in order.lines.all()] == [(poster.id, 2)]
        still_open = [p.product_ref for p in unmatched_products_open(publisher)]
        assert still_open == ["222"]

    def test_another_publishers_product_is_refused(
        self, publisher: Any, make_publisher: Any, make_project: Any
    ) -> None:
        post_shopify(publisher, order_json(skus=(("POSTER-9", 1, "Poster"),)), "w-1")
        process_pending()
        make_project(publisher, title="Poster CD", ecommerce_ids="{POSTER-9}")
        product = UnmatchedProduct.objects.get()
        tasks = queued_tasks()
        with pytest.raises(UnmatchedProductNotFound):
            unmatched_reprocess(publisher=make_publisher(), unmatched_product_id=product.id)
        product.refresh_from_db()
        assert product.resolved_at is None
        assert InboundDelivery.objects.get().outcome == Outcome.UNMATCHED
        assert queued_tasks() == tasks


class TestMapToProject:
    def test_mapping_adds_the_ref_and_reprocesses(self, publisher: Any, make_project: Any) -> None:
        project = make_project(publisher, title="Hits", ecommerce_ids="{VTD234-100}")
        post_shopify(publisher, order_json(skus=(("VTD-NEW", 3, "Hits (2nd press)"),)), "w-1")
        process_pending()
        product = UnmatchedProduct.objects.get()

        queued = unmatched_map_to_project(
            publisher=publisher, unmatched_product_id=product.id, project_id=project.id
        )
        assert queued == 1
        project.refresh_from_db()
        assert project.ecommerce_ids == "{VTD234-100} <VTD-NEW>"
        assert sorted(
            ProjectCartId.objects.filter(project=project).values_list("cart_id", flat=True)
        ) == [
            "VTD-NEW",
            "VTD234-100",
        ]
        assert list(unmatched_products_open(publisher)) == []
        (processed,) = process_pending()
        assert processed.outcome == Outcome.ORDER_CREATED
        order = Order.objects.get()
        assert [(line.project_id, line.quantity) for line in order.lines.all()] == [(project.id, 3)]

        # Mapping again changes nothing and queues nothing.
        assert (
            unmatched_map_to_project(
                publisher=publisher, unmatched_product_id=product.id, project_id=project.id
            )
            == 0
        )
        project.refresh_from_db()
        assert project.ecommerce_ids == "{VTD234-100} <VTD-NEW>"
        assert Order.objects.count() == 1

    @pytest.mark.parametrize(
        ("before", "after"),
        [("", "<NEW-1>"), ("7150", "<7150> <NEW-1>"), ("<a> {b}", "<a> {b} <NEW-1>")],
    )
    def test_the_string_stays_valid(
        self, publisher: Any, make_project: Any, before: str, after: str
    ) -> None:
        project = make_project(publisher, title="Hits", ecommerce_ids=before)
        post_shopify(publisher, order_json(skus=(("NEW-1", 1, "New"),)), "w-1")
        process_pending()
        product = UnmatchedProduct.objects.get()
        unmatched_map_to_project(
            publisher=publisher, unmatched_product_id=product.id, project_id=project.id
        )
        project.refresh_from_db()
        assert project.ecommerce_ids == after

    def test_a_product_without_sku_is_mapped_by_its_variant_id(
        self, publisher: Any, make_project: Any
    ) -> None:
        project = make_project(publisher, title="Gift CD")
        post_shopify(publisher, order_json(skus=((None, 1, "Gift CD"),)), "w-1")
        process_pending()
        product = UnmatchedProduct.objects.get()
        assert product.product_ref == "39072856"
        assert (
            unmatched_map_to_project(
                publisher=publisher, unmatched_product_id=product.id, project_id=project.id
            )
            == 1
        )
        (processed,) = process_pending()
        assert processed.outcome == Outcome.ORDER_CREATED
        assert Order.objects.get().lines.get().project_id == project.id

    def test_another_publishers_project_or_product_is_refused_and_nothing_written(
        self, publisher: Any, make_publisher: Any, make_project: Any
    ) -> None:
        other = make_publisher()
        theirs = make_project(other, title="Theirs", ecommerce_ids="{T-1}")
        mine = make_project(publisher, title="Mine", ecommerce_ids="{M-1}")
        post_shopify(publisher, order_json(skus=(("NEW-1", 1, "New"),)), "w-1")
        process_pending()
        product = UnmatchedProduct.objects.get()
        tasks = queued_tasks()

        with pytest.raises(MappingRefused, match=f"You have no project {theirs.id}"):
            unmatched_map_to_project(
                publisher=publisher, unmatched_product_id=product.id, project_id=theirs.id
            )
        with pytest.raises(UnmatchedProductNotFound):
            unmatched_map_to_project(
                publisher=other, unmatched_product_id=product.id, project_id=theirs.id
            )
        with pytest.raises(UnmatchedProductNotFound):
            unmatched_map_to_project(
                publisher=other, unmatched_product_id=product.id, project_id=mine.id
            )
        theirs.refresh_from_db()
        mine.refresh_from_db()
        assert (theirs.ecommerce_ids, mine.ecommerce_ids) == ("{T-1}", "{M-1}")
        assert list(
            ProjectCartId.objects.order_by("cart_id").values_list("cart_id", flat=True)
        ) == [
            "M-1",
            "T-1",
        ]
        assert InboundDelivery.objects.get().outcome == Outcome.UNMATCHED
        assert UnmatchedProduct.objects.get().resolved_at is None
        assert queued_tasks() == tasks

    def test_an_inactive_project_or_an_unlistable_ref_is_refused(
        self, publisher: Any, make_project: Any
    ) -> None:
        asleep = make_project(publisher, title="Asleep", is_active=False)
        awake = make_project(publisher, title="Awake")
        post_shopify(publisher, order_json(skus=(("A}B", 1, "Odd"),)), "w-1")
        post_shopify(publisher, order_json(order_id="2", skus=(("PLAIN", 1, "Plain"),)), "w-2")
        process_pending()
        odd = UnmatchedProduct.objects.get(product_ref="A}B")
        plain = UnmatchedProduct.objects.get(product_ref="PLAIN")
        with pytest.raises(MappingRefused, match="inactive"):
            unmatched_map_to_project(
                publisher=publisher, unmatched_product_id=plain.id, project_id=asleep.id
            )
        with pytest.raises(MappingRefused, match="bracket"):
            unmatched_map_to_project(
                publisher=publisher, unmatched_product_id=odd.id, project_id=awake.id
            )
        asleep.refresh_from_db()
        awake.refresh_from_db()
        assert (asleep.ecommerce_ids, awake.ecommerce_ids) == ("", "")
        assert set(InboundDelivery.objects.values_list("outcome", flat=True)) == {Outcome.UNMATCHED}


def test_the_open_list_is_newest_first_with_delivery_counts(
    publisher: Any, make_publisher: Any, make_project: Any
) -> None:
    post_shopify(publisher, order_json(skus=(("OLD", 1, "Old"),)), "w-1")
    process_pending()
    post_shopify(publisher, order_json(order_id="2", name="#2", skus=(("NEW", 1, "New"),)), "w-2")
    post_shopify(publisher, order_json(order_id="3", name="#3", skus=(("NEW", 1, "New"),)), "w-3")
    process_pending()
    make_project(publisher, title="New CD", ecommerce_ids="{NEW}")
    # One of NEW's deliveries is replayed by hand and makes its order: it no longer waits.
    InboundDelivery.objects.filter(delivery_id="w-3").update(outcome=Outcome.PENDING)
    someone_else = make_publisher()
    post_shopify(someone_else, order_json(skus=(("OTHER", 1, "Other"),)), "w-4")
    assert [d.outcome for d in process_pending()] == [Outcome.ORDER_CREATED, Outcome.UNMATCHED]
    listed = [
        (p.product_ref, p.times_seen, p.delivery_count, p.waiting_count)
        for p in unmatched_products_open(publisher)
    ]
    assert listed == [("NEW", 2, 2, 1), ("OLD", 1, 1, 1)]
    assert [p.product_ref for p in unmatched_products_open(someone_else)] == ["OTHER"]


def test_admin_lists_and_reprocesses(publisher: Any, make_project: Any, admin_client: Any) -> None:
    post_shopify(publisher, order_json(skus=(("POSTER-1", 1, "<script>x</script>"),)), "w-1")
    process_pending()
    product = UnmatchedProduct.objects.get()
    listing = admin_client.get("/admin/carts/unmatchedproduct/")
    assert listing.status_code == 200
    page = listing.content.decode()
    assert "&lt;script&gt;x&lt;/script&gt;" in page
    assert "<script>x</script>" not in page
    detail = admin_client.get(f"/admin/carts/unmatchedproduct/{product.id}/change/")
    assert detail.status_code == 200
    assert "no project yet" in detail.content.decode()
    assert (
        admin_client.get("/admin/carts/unmatchedproduct/?resolved_at__isnull=True").status_code
        == 200
    )

    make_project(publisher, title="Poster", ecommerce_ids="<POSTER-1>")
    response = admin_client.post(
        "/admin/carts/unmatchedproduct/",
        {"action": "reprocess", "_selected_action": [product.id]},
        follow=True,
    )
    assert response.status_code == 200
    assert "Queued 1 deliveries again." in response.content.decode()
    assert InboundDelivery.objects.get().outcome == Outcome.PENDING


@pytest.mark.django_db(transaction=True)
def test_concurrent_records_of_one_product_make_one_row(make_publisher: Any) -> None:
    skip_unless_threads_share_the_database()
    publisher = make_publisher()
    deliveries = [
        InboundDelivery.objects.create(
            cart=Cart.SHOPIFY,
            publisher=publisher,
            received_at=timezone.now(),
            body=b"{}",
            delivery_id=f"c-{index}",
            outcome=Outcome.UNMATCHED,
        )
        for index in range(8)
    ]
    products = [CartProduct(ref="RACE-1", title="Race")]
    records = (partial(unmatched_record, delivery=d, products=products) for d in deliveries)
    assert run_together(*records) == []
    product = UnmatchedProduct.objects.get()
    assert product.times_seen == 8
    assert sorted(product.deliveries.values_list("id", flat=True)) == sorted(
        d.id for d in deliveries
    )
