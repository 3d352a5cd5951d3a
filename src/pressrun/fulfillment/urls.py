"""The production floor's operator pages, mounted at /operator/floor/."""

from django.urls import path

from pressrun.fulfillment.views import floor, order

app_name = "floor"

urlpatterns = [
    path("", floor.queue, name="queue"),
    path("batches/", floor.batches, name="batches"),
    path("batches/new", floor.create_batch, name="batch_create"),
    path("batches/<int:batch_id>", floor.batch_detail, name="batch"),
    path("batches/<int:batch_id>/packed", floor.batch_packed, name="batch_packed"),
    path("batches/<int:batch_id>/pdf", floor.batch_document, name="batch_pdf"),
    path("orders/<int:order_id>", order.order_page, name="order"),
    path("orders/<int:order_id>/batch", order.order_to_batch, name="order_batch"),
    path("orders/<int:order_id>/packed", order.order_packed, name="order_packed"),
    path("orders/<int:order_id>/pull-out", order.order_pull, name="order_pull_out"),
]
