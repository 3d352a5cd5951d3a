from django.apps import AppConfig


class CartsConfig(AppConfig):
    name = "pressrun.carts"
    label = "carts"
    verbose_name = "Carts"

    def ready(self) -> None:
        # The sweeps for deliveries left pending and post-backs left unfinished with no task;
        # `pressrun worker` starts every registered periodic task (core.tasks: core imports
        # no app). Tracking back to the cart an order came from is queued with the shipped
        # move, by the OrderShipped subscriber, again after an operator's correction of it
        # (ShipmentCorrected), and with each package a publisher's warehouse reports, by the
        # WarehouseShipmentRecorded subscriber (warehouses imports no cart).
        from pressrun.carts.postback import (
            on_order_shipped,
            on_shipment_corrected,
            on_warehouse_shipment_recorded,
        )
        from pressrun.carts.services import delivery_bodies_expire
        from pressrun.carts.tasks import (
            STALE_DELIVERY_SWEEP_INTERVAL,
            STRANDED_POSTBACK_SWEEP_INTERVAL,
            requeue_stale_deliveries,
            requeue_stranded_postbacks,
        )
        from pressrun.core.events import subscribe
        from pressrun.core.tasks import register_housekeeping, register_periodic_task
        from pressrun.orders.events import OrderShipped, ShipmentCorrected
        from pressrun.warehouses.events import WarehouseShipmentRecorded

        subscribe(OrderShipped, on_order_shipped)
        subscribe(ShipmentCorrected, on_shipment_corrected)
        subscribe(WarehouseShipmentRecorded, on_warehouse_shipment_recorded)
        register_periodic_task(requeue_stale_deliveries, interval=STALE_DELIVERY_SWEEP_INTERVAL)
        register_periodic_task(
            requeue_stranded_postbacks, interval=STRANDED_POSTBACK_SWEEP_INTERVAL
        )
        # Stock sync to Shopify: on every change a warehouse reports, and on a schedule.
        from pressrun.carts.stock_sync import on_stock_levels_changed
        from pressrun.carts.tasks import stock_sync_interval, stock_sync_sweep
        from pressrun.warehouses.events import StockLevelsChanged

        subscribe(StockLevelsChanged, on_stock_levels_changed)
        register_periodic_task(stock_sync_sweep, interval=stock_sync_interval())
        # Raw bodies past retention of deliveries that made no order (the rate limit's old
        # windows are core's: core/apps.py).
        register_housekeeping("cart_bodies_emptied", delivery_bodies_expire)

        # The post-back's section of the operator's order page (fulfillment.order_page).
        from pressrun.carts.order_page import postback_section
        from pressrun.fulfillment.order_page import register_order_page_section

        register_order_page_section(
            key="cart_postback",
            order=40,
            template="carts/order_section.html",
            context=postback_section,
        )
