"""Account settings: the publisher's preferences, cart credentials and cart token."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from pressrun.accounts.services import (
    PublisherInvalid,
    publisher_rotate_cart_token,
    publisher_set_cart_credentials,
    publisher_update_settings,
)
from pressrun.core.sealed import hint
from pressrun.core.selectors import public_base_url_reading
from pressrun.dashboard.auth import PublisherRequest, publisher_required
from pressrun.dashboard.forms import AccountSettingsForm, CartCredentialsForm


def _settings_initial(request: PublisherRequest) -> dict[str, Any]:
    publisher = request.publisher
    return {
        "company": publisher.company,
        "default_mail_method": publisher.default_mail_method,
        "customer_email_notifications": publisher.customer_email_notifications,
        "customer_address_changes": publisher.customer_address_changes,
        "postage_delay_hours": publisher.postage_delay_hours,
        "address_error_reminder_days": publisher.address_error_reminder_days,
        "error_email": publisher.error_email,
        "customer_contact_email": publisher.customer_contact_email,
        "shopify_topics": sorted(publisher.shopify_topic_set),
    }


def _render(
    request: PublisherRequest,
    *,
    settings_form: AccountSettingsForm | None = None,
    credentials_form: CartCredentialsForm | None = None,
    status: int = 200,
) -> HttpResponse:
    publisher = request.publisher
    context = {
        "section": "settings",
        "settings_form": settings_form or AccountSettingsForm(initial=_settings_initial(request)),
        "credentials_form": credentials_form
        or CartCredentialsForm(
            initial={
                "oneshoppingcart_merchant_id": publisher.oneshoppingcart_merchant_id,
                "shopify_notify_customer": publisher.shopify_notify_customer,
            }
        ),
        "api_key_hint": hint(publisher.oneshoppingcart_api_key),
        "api_key_unreadable": bool(
            publisher.oneshoppingcart_api_key_sealed and not publisher.oneshoppingcart_api_key
        ),
        "webhook_key_hint": hint(publisher.shopify_webhook_key),
        "webhook_key_unreadable": bool(
            publisher.shopify_webhook_key_sealed and not publisher.shopify_webhook_key
        ),
        "admin_token_hint": hint(publisher.shopify_admin_token),
        "admin_token_unreadable": bool(
            publisher.shopify_admin_token_sealed and not publisher.shopify_admin_token
        ),
        "public_base_url": public_base_url_reading(),
    }
    return render(request, "dashboard/settings.html", context, status=status)


@publisher_required
@require_http_methods(["GET", "POST"])
def account_settings(request: PublisherRequest) -> HttpResponse:
    if request.method == "GET":
        return _render(request)
    form = AccountSettingsForm(request.POST)
    if form.is_valid():
        try:
            publisher_update_settings(publisher=request.publisher, **form.cleaned_data)
        except PublisherInvalid as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, "Your settings are saved.")
            return HttpResponseRedirect(reverse("dashboard:settings"))
    return _render(request, settings_form=form, status=400)


@publisher_required
@require_POST
def cart_credentials(request: PublisherRequest) -> HttpResponse:
    form = CartCredentialsForm(request.POST)
    if form.is_valid():
        try:
            publisher_set_cart_credentials(
                publisher=request.publisher,
                oneshoppingcart_merchant_id=form.cleaned_data["oneshoppingcart_merchant_id"],
                oneshoppingcart_api_key=form.secret_change("oneshoppingcart_api_key"),
                shopify_webhook_key=form.secret_change("shopify_webhook_key"),
                shopify_admin_token=form.secret_change("shopify_admin_token"),
                shopify_notify_customer=form.cleaned_data["shopify_notify_customer"],
            )
        except PublisherInvalid as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, "Your cart credentials are saved.")
            return HttpResponseRedirect(reverse("dashboard:settings") + "#carts")
    return _render(request, credentials_form=form, status=400)


@publisher_required
@require_POST
def cart_token_rotate(request: PublisherRequest) -> HttpResponse:
    publisher_rotate_cart_token(publisher=request.publisher)
    messages.success(
        request,
        "Your cart token is replaced. The old URLs stop working now: paste the new ones "
        "from Integrations into each cart.",
    )
    return HttpResponseRedirect(reverse("dashboard:integrations"))
