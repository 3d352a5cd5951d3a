"""The carts' operator actions, mounted at /operator/carts/ (core/operator_pages.py)."""

from django.urls import URLPattern, path

from pressrun.carts.order_page import postback_send_again

app_name = "carts_operator"

urlpatterns: list[URLPattern] = [
    path("orders/<int:order_id>/postback", postback_send_again, name="postback_send_again"),
]
