from django.urls import path

from pressrun.warehouses import views

urlpatterns = [
    path("shipstation", views.shipstation, name="shipstation"),
]
