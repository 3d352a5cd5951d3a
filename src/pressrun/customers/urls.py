from django.urls import URLPattern, URLResolver, re_path

from pressrun.customers import views

app_name = "customers"

urlpatterns: list[URLPattern | URLResolver] = [
    # Tokens are URL-safe base64 (orders.models.new_customer_token).
    re_path(r"^(?P<token>[A-Za-z0-9_-]{16,64})$", views.order_page, name="order"),
]
