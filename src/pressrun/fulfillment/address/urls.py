"""The operators' address-error pages, mounted at /operator/address-errors/."""

from django.urls import URLPattern, path

from pressrun.fulfillment.address import views

app_name = "address_errors"

urlpatterns: list[URLPattern] = [
    path("", views.error_list, name="list"),
    path("report", views.report, name="report"),
    path("<int:order_id>/correct", views.correct, name="correct"),
    path("<int:order_id>/report", views.order_report, name="order_report"),
]
