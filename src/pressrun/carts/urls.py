from django.urls import path

from pressrun.carts import views

app_name = "carts"

urlpatterns = [
    path("shopify", views.shopify_webhook, name="shopify"),
    path("shopify/<str:token>", views.shopify_webhook, name="shopify_token"),
    path("samcart", views.samcart_webhook, name="samcart"),
    path("samcart/<str:token>", views.samcart_webhook, name="samcart_token"),
    path("1shoppingcart", views.oneshoppingcart_notification, name="oneshoppingcart"),
    path(
        "1shoppingcart/<str:token>",
        views.oneshoppingcart_notification,
        name="oneshoppingcart_token",
    ),
]
