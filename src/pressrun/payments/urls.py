"""Stripe's webhook, mounted at /payments/."""

from django.urls import URLPattern, path

from pressrun.payments import views

app_name = "payments"

urlpatterns: list[URLPattern] = [
    path("stripe/webhook", views.stripe_webhook, name="stripe_webhook"),
]
