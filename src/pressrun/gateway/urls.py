from django.urls import path

from pressrun.gateway import views

app_name = "gateway"
urlpatterns = [
    path("order", views.submit_product_order, name="order"),
    path("status", views.order_status_by_invoice, name="status"),
]
