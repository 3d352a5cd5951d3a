"""Integrations → Webhooks: the publisher's endpoint (URL, events, on/off), its signing
secret (revealed or replaced on request), a test event, and the delivery log with each
delivery's attempts and a redelivery button. Every object is looked up among the signed-in
publisher's own (`owned_or_404`)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from pressrun.core.sealed import hint
from pressrun.dashboard.auth import PublisherRequest, owned_or_404, publisher_required
from pressrun.dashboard.webhook_forms import WebhookSettingsForm
from pressrun.webhooks.models import WebhookDelivery, WebhookEventType
from pressrun.webhooks.payload import API_VERSION
from pressrun.webhooks.selectors import webhook_endpoint_of, webhook_log
from pressrun.webhooks.services import (
    RETRY_SCHEDULE,
    WebhookRefused,
    WebhookSettingsInvalid,
    webhook_endpoint_save,
    webhook_redeliver,
    webhook_secret,
    webhook_secret_rotate,
    webhook_test_send,
)


def _page(
    request: PublisherRequest,
    *,
    form: WebhookSettingsForm | None = None,
    shown_secret: str = "",
    status: int = 200,
) -> HttpResponse:
    publisher = request.publisher
    endpoint = webhook_endpoint_of(publisher)
    if form is None:
        initial: dict[str, Any] = {"event_types": list(WebhookEventType.values)}
        if endpoint is not None:
            initial = {
                "url": endpoint.url,
                "event_types": endpoint.event_types,
                "enabled": endpoint.enabled,
            }
        form = WebhookSettingsForm(initial=initial)
    secret = webhook_secret(endpoint=endpoint) if endpoint is not None else ""
    context = {
        "section": "integrations",
        "form": form,
        "endpoint": endpoint,
        "secret_hint": hint(secret),
        "secret_unreadable": endpoint is not None and not secret,
        "shown_secret": shown_secret,
        "deliveries": webhook_log(publisher=publisher),
        "retry_schedule": ", ".join(str(m) for m in RETRY_SCHEDULE),
        "api_version": API_VERSION,
        "rotate_fields": {"action": "rotate"},
    }
    return render(request, "dashboard/webhooks.html", context, status=status)


@publisher_required
@require_http_methods(["GET", "POST"])
def webhooks(request: PublisherRequest) -> HttpResponse:
    """GET: the page. POST: save the settings (the first save shows the new secret once)."""
    if request.method == "GET":
        return _page(request)
    form = WebhookSettingsForm(request.POST)
    if not form.is_valid():
        return _page(request, form=form, status=400)
    try:
        _, new_secret = webhook_endpoint_save(publisher=request.publisher, **form.cleaned_data)
    except WebhookSettingsInvalid as exc:
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        return _page(request, form=form, status=400)
    messages.success(request, "Your webhook settings are saved.")
    if new_secret:
        # Shown in this answer only (never kept in the session); revealable later.
        return _page(request, shown_secret=new_secret)
    return HttpResponseRedirect(reverse("dashboard:webhooks"))


@publisher_required
@require_POST
def webhook_secret_view(request: PublisherRequest) -> HttpResponse:
    """`action=reveal` shows the signing secret; `action=rotate` replaces it and shows the
    new one."""
    endpoint = webhook_endpoint_of(request.publisher)
    if endpoint is None:
        messages.error(request, "Save an endpoint URL first: the secret is made with it.")
        return HttpResponseRedirect(reverse("dashboard:webhooks"))
    if request.POST.get("action") == "rotate":
        secret = webhook_secret_rotate(publisher=request.publisher)
        messages.success(
            request,
            "Your signing secret is replaced: every webhook from now on (retries included) "
            "is signed with the new one. Put it in your system now.",
        )
    else:
        secret = webhook_secret(endpoint=endpoint)
    return _page(request, shown_secret=secret)


@publisher_required
@require_POST
def webhook_test(request: PublisherRequest) -> HttpResponse:
    try:
        delivery = webhook_test_send(publisher=request.publisher)
    except WebhookRefused as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            f"Test event {delivery.event_id} is queued: it is sent within seconds; reload "
            "this page to see your endpoint's answer in the log.",
        )
    return HttpResponseRedirect(reverse("dashboard:webhooks") + "#log")


@publisher_required
def webhook_delivery(request: PublisherRequest, webhook_delivery_id: int) -> HttpResponse:
    delivery = owned_or_404(
        WebhookDelivery.objects.all(), request.publisher, id=webhook_delivery_id
    )
    context = {
        "section": "integrations",
        "delivery": delivery,
        "attempts": list(delivery.attempts.order_by("number")),
        "can_redeliver": delivery.status not in ("pending", "sending"),
    }
    return render(request, "dashboard/webhook_delivery.html", context)


@publisher_required
@require_POST
def webhook_redeliver_view(request: PublisherRequest, webhook_delivery_id: int) -> HttpResponse:
    delivery = owned_or_404(
        WebhookDelivery.objects.all(), request.publisher, id=webhook_delivery_id
    )
    try:
        webhook_redeliver(publisher=request.publisher, delivery_id=delivery.id)
    except WebhookRefused as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Event {delivery.event_id} is queued to be sent again.")
    return HttpResponseRedirect(reverse("dashboard:webhook_delivery", args=[delivery.id]))
