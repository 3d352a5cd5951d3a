"""Publisher webhooks with the real server and worker: a publisher sets up its endpoint on
the dashboard (over HTTP, as a browser would), places an order through the gateway, and its
own HTTP endpoint (a local receiver) gets `order.placed`, signed with the secret the
dashboard showed; the test event and the delivery log follow the same path."""

from __future__ import annotations

import html
import http.cookiejar
import json
import re
import time
import urllib.request
from urllib.parse import urlencode

import pytest

from tests.e2e.test_gateway_http import place
from tests.live import LiveService
from tests.webhooks import receiver as receiver_module

pytestmark = pytest.mark.e2e

ALL_EVENTS = [
    "order.placed",
    "order.held",
    "order.released",
    "order.shipped",
    "order.address_error",
    "order.shipment_corrected",
]


def _csrf(page: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert match, page[:2000]
    return html.unescape(match.group(1))


class Browser:
    def __init__(self, service: LiveService) -> None:
        self.service = service
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def get(self, path: str) -> str:
        with self.opener.open(self.service.url(path), timeout=30) as response:
            return html.unescape(response.read().decode())

    def post(self, path: str, form: list[tuple[str, str]], *, token_from: str) -> str:
        token = _csrf(self.get(token_from))
        data = urlencode([("csrfmiddlewaretoken", token), *form]).encode()
        request = urllib.request.Request(self.service.url(path), data=data)
        with self.opener.open(request, timeout=30) as response:
            return html.unescape(response.read().decode())


def test_gateway_order_reaches_the_publishers_endpoint_signed(live_service: LiveService) -> None:
    account = live_service.create_publisher(balance="100.00")
    browser = Browser(live_service)
    browser.post(
        "/sign-in",
        [("email", account.email), ("password", account.password)],
        token_from="/sign-in",
    )
    with receiver_module.running() as receiver:
        page = browser.post(
            "/integrations/webhooks",
            [("url", receiver.url), ("enabled", "on")] + [("event_types", e) for e in ALL_EVENTS],
            token_from="/integrations/webhooks",
        )
        match = re.search(r'data-testid="webhook-secret">(whsec_[A-Za-z0-9_-]+)<', page)
        assert match, page[:3000]
        receiver.secret = match.group(1)

        invoice = live_service.unique()
        order_id = place(live_service, account, invoice)
        [request] = receiver.wait_for(1)
        assert request.signature_valid, request.headers
        signed_at = int(request.headers["pressrun-signature"].split(",")[0].removeprefix("t="))
        assert abs(time.time() - signed_at) < 120
        body = request.json()
        assert body["type"] == "order.placed"
        assert request.headers["pressrun-event-type"] == "order.placed"
        assert request.headers["pressrun-event-id"] == body["id"]
        assert body["publisher_id"] == account.id
        assert body["test"] is False
        assert body["order"]["id"] == int(order_id)
        assert body["order"]["invoice"] == invoice
        assert body["order"]["status"] == "PROCESSING"
        assert body["order"]["items"] == [{"project_id": account.project_ids[0], "quantity": 1}]

        # The log shows it delivered, once the worker has recorded the answer.
        deadline = time.monotonic() + 30
        while "Delivered" not in (log := browser.get("/integrations/webhooks")):
            assert time.monotonic() < deadline, log[:3000]
            time.sleep(0.3)
        assert body["id"] not in log  # the log lists the event; its id is on its own page

        browser.post("/integrations/webhooks/test", [], token_from="/integrations/webhooks")
        _, test_event = receiver.wait_for(2)
        assert test_event.signature_valid
        assert json.loads(test_event.body)["type"] == "webhook.test"
        assert json.loads(test_event.body)["order"] is None
