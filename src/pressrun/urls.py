from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path


def health(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok\n", content_type="text/plain")


urlpatterns = [
    path("gateway/", include("pressrun.gateway.urls")),
    path("carts/", include("pressrun.carts.urls")),
    path("admin/", admin.site.urls),
    path("health", health),
    path("c/", include("pressrun.customers.urls")),
    path("", include("pressrun.dashboard.urls")),
]
