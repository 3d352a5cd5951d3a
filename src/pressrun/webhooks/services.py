"""Outbound webhooks: the publisher's endpoint settings, queueing an event (an outbox row
and its task, in the caller's transaction), one delivery attempt with its retry schedule,
the give-up email, redelivery, the test event, the sweep and housekeeping.

The contract (docs/webhooks.md):

- an event is queued in the transaction of its fact, never sent inside a request;
- an attempt is a 2xx (delivered) or a failure (any other status, no answer, a refused
  address); after a failure the next attempt follows 1, 4, 16, 64 and 256 minutes later
  (`RETRY_SCHEDULE`); after the sixth failed attempt the delivery is given up and the
  publisher is emailed (at most one such email a day);
- delivery is at least once: a worker killed after the receiver answered but before the row
  was marked delivered sends the event again, under the same event id.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from pressrun.accounts.models import Publisher
from pressrun.accounts.services import publisher_webhook_events_set
from pressrun.core.errors import DomainError
from pressrun.core.faults import fault_point
from pressrun.core.outbound import (
    PostResult,
    outbound_attempt_record,
    outbound_claim,
    outbound_next_attempt_at,
    outbound_row_restart,
    outbound_still_ours,
    stranded_rows_requeue,
)
from pressrun.core.sealed import seal, unseal
from pressrun.core.selectors import public_base_url
from pressrun.orders.models import Order
from pressrun.webhooks import client
from pressrun.webhooks.models import (
    TEST_EVENT_TYPE,
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEventType,
)
from pressrun.webhooks.payload import event_body
from pressrun.webhooks.selectors import (
    deliveries_claimable,
    enabled_endpoint,
    stranded_delivery_ids,
)
from pressrun.webhooks.signing import (
    ATTEMPT_HEADER,
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    SIGNATURE_HEADER,
    secret_generate,
    signature_header,
)

logger = logging.getLogger(__name__)

# Minutes between a failed attempt and the next one; after the last, the delivery is given up.
RETRY_SCHEDULE: tuple[int, ...] = (1, 4, 16, 64, 256)
ATTEMPTS = len(RETRY_SCHEDULE) + 1
RETENTION = timedelta(days=30)


class WebhookSettingsInvalid(DomainError):
    """The settings cannot be saved; `field` names the form field at fault ("" for none)."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class WebhookRefused(DomainError):
    """A test event or a redelivery cannot be queued now; the message says why."""


# --- settings --------------------------------------------------------------------------------


def webhook_endpoint_save(
    *, publisher: Publisher, url: str, event_types: Iterable[str], enabled: bool
) -> tuple[WebhookEndpoint, str]:
    """Save the publisher's endpoint: its URL (checked by `client.endpoint_url_check`), the
    event types sent to it, whether it is on. The first save generates the signing secret.
    Returns the endpoint and the new secret ("" when it was not new). Raises
    WebhookSettingsInvalid (nothing written)."""
    url = url.strip()
    chosen = sorted(set(event_types))
    unknown = [t for t in chosen if t not in WebhookEventType.values]
    if unknown:
        raise WebhookSettingsInvalid(f"Unknown event type {unknown[0]}.", field="event_types")
    if url or enabled:
        try:
            client.endpoint_url_check(url)
        except client.UrlRefused as exc:
            raise WebhookSettingsInvalid(exc.message, field="url") from None
    if enabled and not chosen:
        raise WebhookSettingsInvalid(
            "Choose at least one event to send, or turn webhooks off.", field="event_types"
        )
    now = timezone.now()
    new_secret = ""
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().filter(publisher=publisher).first()
        if endpoint is None:
            new_secret = secret_generate()
            endpoint = WebhookEndpoint(
                publisher=publisher,
                secret_sealed=seal(new_secret),
                created_at=now,
                secret_created_at=now,
            )
        endpoint.url = url
        endpoint.event_types = chosen
        endpoint.enabled = enabled
        endpoint.updated_at = now
        endpoint.save()
        # The publisher's copy of what the endpoint takes, read with its credentials so
        # that intake need not read the endpoint for every order (subscribers.py). This is
        # the only place that changes what an endpoint takes (the admin only shows them).
        publisher_webhook_events_set(publisher=publisher, event_types=chosen if enabled else [])
    return endpoint, new_secret


def webhook_secret_rotate(*, publisher: Publisher) -> str:
    """Replace the signing secret with a new one and return it. Every attempt from now on
    (retries of earlier events included) is signed with the new secret. Raises
    WebhookRefused when the publisher has no endpoint yet."""
    new_secret = secret_generate()
    now = timezone.now()
    updated = WebhookEndpoint.objects.filter(publisher=publisher).update(
        secret_sealed=seal(new_secret), secret_created_at=now, updated_at=now
    )
    if not updated:
        raise WebhookRefused("Save an endpoint URL first.")
    return new_secret


def webhook_secret(*, endpoint: WebhookEndpoint) -> str:
    """The endpoint's signing secret in clear ("" if it was sealed under another key:
    rotate it)."""
    return unseal(endpoint.secret_sealed)


# --- queueing --------------------------------------------------------------------------------


def new_event_id() -> str:
    return "evt_" + secrets.token_hex(16)


def _delivery_create(
    *, publisher_id: int, event_type: str, order: Order | None, now: datetime
) -> WebhookDelivery:
    from pressrun.webhooks.tasks import webhook_deliver

    event_id = new_event_id()
    with transaction.atomic():
        delivery = WebhookDelivery.objects.create(
            event_id=event_id,
            publisher_id=publisher_id,
            event_type=event_type,
            order=order,
            body=event_body(
                event_id=event_id,
                event_type=event_type,
                created=now,
                publisher_id=publisher_id,
                order=order,
            ),
            created_at=now,
            next_attempt_at=now,
        )
        fault_point("webhook_queued_before_task")
        webhook_deliver.enqueue(delivery_id=delivery.id)
    return delivery


def webhook_event_queue(
    *, publisher_id: int, event_type: str, order: Order
) -> WebhookDelivery | None:
    """Queue `event_type` about `order` for the publisher's endpoint, if it is on and takes
    that type: the delivery row (its body a snapshot of the order now) and its send task, in
    the caller's transaction (an outbox). Returns the delivery, or None when nothing is sent.
    """
    endpoint = enabled_endpoint(publisher_id)
    if endpoint is None or event_type not in endpoint.event_types:
        return None
    return _delivery_create(
        publisher_id=publisher_id, event_type=event_type, order=order, now=timezone.now()
    )


def webhook_test_send(*, publisher: Publisher) -> WebhookDelivery:
    """Queue the test event (`webhook.test`, `order` null) to the saved URL, whether webhooks
    are on or not. It is tried once, never retried, and never emails. Raises WebhookRefused
    without a saved URL."""
    endpoint = WebhookEndpoint.objects.filter(publisher=publisher).exclude(url="").first()
    if endpoint is None:
        raise WebhookRefused("Save an endpoint URL first.")
    return _delivery_create(
        publisher_id=publisher.id, event_type=TEST_EVENT_TYPE, order=None, now=timezone.now()
    )


def webhook_redeliver(*, publisher: Publisher, delivery_id: int) -> WebhookDelivery:
    """Send a finished delivery again, now: same event id, same body, a new series of
    attempts on the usual schedule (a test event: one attempt). Raises
    WebhookDelivery.DoesNotExist for another publisher's delivery, WebhookRefused while it is
    still being sent or retried."""
    from pressrun.webhooks.tasks import webhook_deliver

    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().get(
            id=delivery_id, publisher=publisher
        )
        if delivery.status in (DeliveryStatus.PENDING, DeliveryStatus.SENDING):
            raise WebhookRefused(
                f"Event {delivery.event_id} is still being sent; its next attempt is scheduled."
            )
        outbound_row_restart(delivery, now=timezone.now())
        webhook_deliver.enqueue(delivery_id=delivery.id)
    return delivery


# --- sending ---------------------------------------------------------------------------------


def webhook_delivery_attempt(*, delivery_id: int, now: datetime | None = None) -> str:
    """Make one attempt of a delivery that is due, and record it; returns the delivery's
    status afterwards, or "" when there was nothing to do (not due, finished, or held by a
    live worker).

    The row is claimed first (PENDING → SENDING, `core.outbound`). Webhooks turned off (or
    the endpoint removed) cancel a real event's delivery without sending. A 2xx marks it
    delivered; any other outcome records the attempt and schedules the next
    (`RETRY_SCHEDULE`, counted from `now`), queuing its task in the same transaction, or
    gives up after the last attempt and emails the publisher. A run that lost its claim
    meanwhile records nothing.
    """
    from pressrun.webhooks.tasks import webhook_deliver

    now = now or timezone.now()
    if not outbound_claim(deliveries_claimable(now=now), delivery_id, now=now):
        return ""
    fault_point("webhook_claimed_before_send")
    delivery = WebhookDelivery.objects.select_related("publisher").get(id=delivery_id)
    endpoint = WebhookEndpoint.objects.filter(publisher_id=delivery.publisher_id).first()
    if endpoint is None or not endpoint.url or (not endpoint.enabled and not delivery.is_test):
        WebhookDelivery.objects.filter(**outbound_still_ours(delivery_id, now)).update(
            status=DeliveryStatus.CANCELLED,
            next_attempt_at=None,
            last_error="Not sent: webhooks were turned off.",
        )
        return DeliveryStatus.CANCELLED
    number = WebhookAttempt.objects.filter(delivery_id=delivery_id).count() + 1
    series = delivery.series_attempts + 1
    body = delivery.body.encode("utf-8")
    secret = webhook_secret(endpoint=endpoint)
    if not secret:
        result = PostResult(error=client.SIGNING_KEY_LOST)
    else:
        headers = {
            SIGNATURE_HEADER: signature_header(
                secret=secret, timestamp=int(now.timestamp()), body=body
            ),
            EVENT_ID_HEADER: delivery.event_id,
            EVENT_TYPE_HEADER: delivery.event_type,
            ATTEMPT_HEADER: str(number),
        }
        result = client.attempt(
            endpoint.url,
            body=body,
            headers=headers,
            timeout=float(settings.WEBHOOK_TIMEOUT_SECONDS),
            what=f"webhook {delivery.event_id}",
        )
    fault_point("webhook_sent_before_recorded")
    next_at = None
    if not result.accepted:
        next_at = outbound_next_attempt_at(
            series=series,
            schedule=RETRY_SCHEDULE,
            attempts_allowed=1 if delivery.is_test else ATTEMPTS,
            now=now,
        )
    with transaction.atomic():
        fields = outbound_attempt_record(
            row_model=WebhookDelivery,
            attempt_model=WebhookAttempt,
            row_field="delivery",
            row_id=delivery_id,
            claimed_at=now,
            number=number,
            url=endpoint.url,
            result=result,
            series=series,
            next_at=next_at,
            what=f"webhook {delivery.event_id}",
        )
        if fields is None:
            return ""
        if result.accepted:
            status = DeliveryStatus.DELIVERED
            fields["delivered_at"] = now
        elif next_at is not None:
            status = DeliveryStatus.PENDING
            webhook_deliver.using(run_after=next_at).enqueue(delivery_id=delivery_id)
        else:
            status = DeliveryStatus.FAILED
            fields["gave_up_at"] = now
        WebhookDelivery.objects.filter(id=delivery_id).update(status=status, **fields)
        if status == DeliveryStatus.FAILED and not delivery.is_test:
            _notify_gave_up(delivery=delivery, url=endpoint.url, error=result.error, now=now)
    if not result.accepted:
        logger.info(
            "webhook %s attempt %d to publisher %s failed: %s",
            delivery.event_id,
            number,
            delivery.publisher_id,
            result.error,
        )
    return status


def _notify_gave_up(*, delivery: WebhookDelivery, url: str, error: str, now: datetime) -> None:
    """Email the publisher that a delivery was given up: at most one such email per
    publisher and day (UTC), however many deliveries fail that day."""
    from pressrun.notifications.services import notify_publisher_error

    publisher = delivery.publisher
    about = f" about order {delivery.order_id}" if delivery.order_id else ""
    page = public_base_url() + reverse("dashboard:webhooks")
    text = (
        f"pressrun could not deliver the webhook {delivery.event_type}{about} "
        f"(event {delivery.event_id}) to {url}.\n\n"
        f"It was tried {ATTEMPTS} times over about {sum(RETRY_SCHEDULE) // 60} hours and "
        f"{sum(RETRY_SCHEDULE) % 60} minutes; the last attempt failed with: {error}\n\n"
        "Your endpoint must answer with a 2xx status within "
        f"{settings.WEBHOOK_TIMEOUT_SECONDS} seconds. Once it does, you can send this event "
        f"again from the delivery log:\n{page}\n\n"
        "Other deliveries that are given up today are in the same log; this email is sent "
        "at most once a day.\n"
    )
    notify_publisher_error(
        publisher=publisher,
        to=publisher.error_recipient,
        subject="Webhook deliveries are failing",
        text=text,
        key=f"webhook-gave-up:{publisher.id}:{now.date().isoformat()}",
    )


# --- sweep and housekeeping ------------------------------------------------------------------


def webhooks_requeue_stranded() -> int:
    """The webhook sweep: queue `webhook_deliver` again (at the delivery's due time) for
    every delivery nothing would send (`stranded_delivery_ids`); returns how many. Each is
    re-checked under a row lock first; should a second task exist after all, the claim lets
    only one of them send."""
    from pressrun.webhooks.tasks import webhook_deliver

    now = timezone.now()
    return stranded_rows_requeue(
        model=WebhookDelivery,
        ids=stranded_delivery_ids(now=now),
        task_to_queue=webhook_deliver,
        argument="delivery_id",
        now=now,
        label="webhook delivery",
    )


def webhook_deliveries_delete_old(*, now: datetime) -> int:
    """Delete finished deliveries (and their attempts) created more than 30 days ago;
    returns how many deliveries. Run by the hourly housekeeping."""
    return (
        WebhookDelivery.objects.filter(
            created_at__lt=now - RETENTION,
            status__in=[DeliveryStatus.DELIVERED, DeliveryStatus.FAILED, DeliveryStatus.CANCELLED],
        )
        .delete()[1]
        .get("webhooks.WebhookDelivery", 0)
    )
