from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path


def health(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok\n", content_type="text/plain")


admin.site.site_header = "pressrun operations"
admin.site.site_title = "pressrun"

urlpatterns = [
    path("gateway/", include("pressrun.gateway.urls")),
    path("carts/", include("pressrun.carts.urls")),
    path("payments/", include("pressrun.payments.urls")),
    path("admin/", admin.site.urls),
    path("health", health),
    path("c/", include("pressrun.customers.urls")),
    path("", include("pressrun.dashboard.urls")),
]
