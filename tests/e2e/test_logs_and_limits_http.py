"""What the logs keep, and the cart endpoints' rate limits, over real HTTP: a second
`pressrun serve --access-log` on the session's data, with small limits.

Before: the access log printed `CoLoginPassword=…` of a GET status call and the cart tokens
(in the query and in the path) as sent, and the error log printed the tokens of the paths it
named; any number of cart deliveries was stored."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.e2e.test_gateway_http import order_fields, status_fields
from tests.e2e.test_request_hygiene_http import (
    Answer,
    cart_path,
    cart_token,
    deliveries,
    request,
)
from tests.live import PRESSRUN, LiveService

pytestmark = pytest.mark.e2e

LIMIT = 3
UNVERIFIED_LIMIT = 2
POLL_SECONDS = 30.0


@dataclass
class SecondServer:
    service: LiveService
    log: Path

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def access_logged(live_service: LiveService, tmp_path: Path) -> Iterator[SecondServer]:
    """`pressrun serve --access-log` on the live service's database, with small cart limits;
    the client address is read from X-Forwarded-For so a test can speak for any address."""
    port = _free_port()
    env = dict(
        live_service.env,
        PRESSRUN_CART_DELIVERIES_PER_MINUTE=str(LIMIT),
        PRESSRUN_CART_UNVERIFIED_PER_MINUTE=str(UNVERIFIED_LIMIT),
        PRESSRUN_CLIENT_ADDRESS_HEADER="X-Forwarded-For",
    )
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(PRESSRUN), "serve", "--host", "127.0.0.1", "--port", str(port), "--access-log"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(base_url + "/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the second server did not start:\n{log.read_text()}")
                time.sleep(0.1)
        service = LiveService(
            base_url=base_url,
            env=env,
            data_dir=live_service.data_dir,
            account=live_service.account,
            server_log=log,
            worker_log=live_service.worker_log,
        )
        yield SecondServer(service, log)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def wait_until_processed(service: LiveService, account_id: int) -> None:
    from tests.live import Account

    account = Account(id=account_id, email="", password="", project_ids=())
    deadline = time.monotonic() + POLL_SECONDS
    while time.monotonic() < deadline:
        if all(outcome != "pending" for _, outcome, _, _ in deliveries(service, account)):
            return
        time.sleep(0.3)
    pytest.fail("the worker did not process the deliveries in time")


def test_no_secret_reaches_the_logs_and_the_request_lines_are_still_there(
    live_service: LiveService, access_logged: SecondServer
) -> None:
    service = access_logged.service
    password = f"pw-{uuid.uuid4().hex}"
    account = live_service.create_publisher(balance="20.00", password=password)
    token = cart_token(live_service, account)
    reset_token = f"reset-{uuid.uuid4().hex}"

    status = request(
        service, "GET", "/gateway/status?" + urlencode(status_fields(account, "NO-SUCH-1"))
    )
    assert status.status == 200
    assert "<ErrorNum>300</ErrorNum>" in status.text  # signed in: the password was right
    order = request(
        service,
        "GET",
        "/gateway/order?" + urlencode(order_fields(account, live_service.unique())),
    )
    assert order.text.startswith("[SUCCESS]"), order.text
    customer_token = live_service.shell(
        "from pressrun.orders.models import Order; "
        f"print(Order.objects.filter(publisher_id={account.id}).get().customer_token)"
    )
    answers: list[Answer] = [
        request(
            service,
            "POST",
            cart_path("samcart", account, token),
            body=b'{"type": "Order", "order": {"id": "L-1"}, "products": []}',
            headers={"Content-Type": "application/json"},
        ),
        request(
            service,
            "POST",
            f"/carts/shopify/{token}?idpub={account.id}",
            body=b"{not json",
            headers={"Content-Type": "application/json", "X-Shopify-Topic": "orders/paid"},
        ),
        # Refused before its view (the charset): the refusal's log line names the path.
        request(
            service,
            "POST",
            f"/carts/samcart/{token}?idpub={account.id}",
            body=b"{}",
            headers={"Content-Type": "application/json; charset=rot13"},
        ),
        request(service, "GET", f"/c/{customer_token}"),
        request(service, "GET", f"/password-reset/MQ/{reset_token}"),
    ]
    assert [answer.status for answer in answers] == [200, 400, 415, 200, 400]
    wait_until_processed(live_service, account.id)
    time.sleep(0.5)  # the access log line is written after the answer

    server_output = access_logged.output
    worker_output = live_service.worker_log.read_text(errors="replace")
    for secret in (password, token, customer_token, reset_token):
        assert secret not in server_output, secret
        assert secret not in worker_output, secret
    # The request lines are logged, with the secrets' places marked.
    expected_lines = [
        '"GET /gateway/status?function=getOrderStatusByInvoice&Invoice=NO-SUCH-1&CoLoginEmail='
        f'{account.email.replace("@", "%40")}&CoLoginPassword=[redacted] HTTP/1.1" 200',
        f'"POST /carts/samcart?idpub={account.id}&token=[redacted] HTTP/1.1" 200',
        f'"POST /carts/shopify/[redacted]?idpub={account.id} HTTP/1.1" 400',
        f'"POST /carts/samcart/[redacted]?idpub={account.id} HTTP/1.1" 415',
        '"GET /c/[redacted] HTTP/1.1" 200',
        '"GET /password-reset/MQ/[redacted] HTTP/1.1" 400',
        "request refused (415): POST /carts/samcart/[redacted]: The Content-Type charset "
        "'rot13' is not a text encoding this service reads; send UTF-8.",
    ]
    for line in expected_lines:
        assert line in server_output, f"{line}\n--- server output ---\n{server_output}"
    assert "Traceback" not in server_output


def test_a_cart_over_its_rate_limit_gets_429_with_retry_after(
    live_service: LiveService, access_logged: SecondServer
) -> None:
    service = access_logged.service
    account = live_service.create_publisher(balance="20.00")
    token = cart_token(live_service, account)

    def deliver(order_id: str, *, with_token: str, address: str = "192.0.2.10") -> Answer:
        return request(
            service,
            "POST",
            cart_path("samcart", account, with_token),
            body=b'{"type": "Lead", "order": {"id": "%s"}}' % order_id.encode(),
            headers={"Content-Type": "application/json", "X-Forwarded-For": address},
        )

    # All within one minute's window: start early enough in a minute to finish in it.
    now = time.time()
    if now % 60 > 45:
        time.sleep(60 - now % 60 + 0.5)
    minute = int(time.time() // 60)
    statuses = [deliver(f"R-{n}", with_token=token).status for n in range(LIMIT)]
    over = deliver("R-over", with_token=token)
    forger = f"198.51.100.{uuid.uuid4().int % 200 + 20}"
    refused = [
        deliver("F", with_token="wrong-token", address=forger).status
        for _ in range(UNVERIFIED_LIMIT + 1)
    ]
    assert int(time.time() // 60) == minute, "the requests took over 14 s"
    assert statuses == [200] * LIMIT
    assert over.status == 429
    retry_after = int(over.headers["retry-after"])
    assert 1 <= retry_after <= 60
    assert over.text == f"Too many requests; retry after {retry_after} seconds.\n"
    assert len(deliveries(live_service, account)) == LIMIT  # the refused one is not stored
    # A sender that does not check out: 401, then 429 past its address's budget.
    assert refused == [401] * UNVERIFIED_LIMIT + [429]
