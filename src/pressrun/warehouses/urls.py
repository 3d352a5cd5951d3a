from django.urls import path

from pressrun.warehouses import push_views, views

urlpatterns = [
    path("shipstation", views.shipstation, name="shipstation"),
    # The push protocol: <connection> is the connection's id (docs/warehouses.md).
    path("<str:connection>/shipments", push_views.shipments, name="push_shipments"),
    path("<str:connection>/inventory", push_views.inventory, name="push_inventory"),
]
