from django.urls import path

from pressrun.warehouses import operator_views as views

app_name = "warehouses"

urlpatterns = [
    path("", views.stations, name="stations"),
    path("stations/<int:connection_id>", views.station_change, name="station_change"),
    path("orders/", views.find_order, name="find_order"),
    path("orders/<int:order_id>/ship", views.order_ship, name="order_ship"),
    path("import", views.tracking_import, name="tracking_import"),
    path("notices", views.notices, name="notices"),
    path("margin", views.margin, name="margin"),
]
