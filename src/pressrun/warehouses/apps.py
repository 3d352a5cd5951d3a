from django.apps import AppConfig


class WarehousesConfig(AppConfig):
    name = "pressrun.warehouses"
    label = "warehouses"
    verbose_name = "Shipping stations and warehouses"

    def ready(self) -> None:
        # The operators' shipping pages join the bar (core imports no app: apps register).
        from pressrun.core.operator_pages import register_operator_page
        from pressrun.core.tasks import register_housekeeping
        from pressrun.warehouses.notices import ship_notices_delete_expired

        register_housekeeping("ship_notices", ship_notices_delete_expired)

        # The push protocol's sweep (orders nothing would push), started by `pressrun worker`.
        from pressrun.core.tasks import register_periodic_task
        from pressrun.warehouses.tasks import WAREHOUSE_PUSH_SWEEP_INTERVAL, sweep_warehouse_pushes

        register_periodic_task(sweep_warehouse_pushes, interval=WAREHOUSE_PUSH_SWEEP_INTERVAL)

        register_operator_page(
            label="Shipping", url_name="warehouses:stations", section="shipping", order=30
        )

        # The shipping section of the operator's order page (fulfillment.order_page: the
        # floor's page takes sections from the apps above it).
        from pressrun.fulfillment.order_page import register_order_page_section
        from pressrun.warehouses.order_page import shipping_section

        register_order_page_section(
            key="shipping",
            order=30,
            template="warehouses/order_section.html",
            context=shipping_section,
        )
