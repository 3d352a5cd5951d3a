from django.contrib import admin
from django.urls import include, path

from pressrun.core.operator_pages import operator_home

urlpatterns = [
    path("gateway/", include("pressrun.gateway.urls")),
    path("carts/", include("pressrun.carts.urls")),
    path("payments/", include("pressrun.payments.urls")),
    path("warehouses/", include("pressrun.warehouses.urls")),
    path("admin/", admin.site.urls),
    # The operator pages (core/operator_pages.py); each app mounts its own below /operator/.
    path("operator/", operator_home, name="operator_home"),
    path("operator/floor/", include("pressrun.fulfillment.urls")),
    path("operator/address-errors/", include("pressrun.fulfillment.address.urls")),
    path("operator/shipping/", include("pressrun.warehouses.operator_urls")),
    path("operator/carts/", include("pressrun.carts.operator_urls")),
    # /healthz, /health, /readyz, /metrics (docs/operations.md, "Monitoring").
    path("", include("pressrun.monitoring.urls")),
    path("c/", include("pressrun.customers.urls")),
    path("", include("pressrun.dashboard.urls")),
]

# Styled error pages (the dashboard's look when signed in), never Django's bare ones.
handler400 = "pressrun.dashboard.views.errors.bad_request"
handler403 = "pressrun.dashboard.views.errors.permission_denied"
handler404 = "pressrun.dashboard.views.errors.not_found"
handler500 = "pressrun.dashboard.views.errors.server_error"
