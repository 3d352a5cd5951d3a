"""Sign-in throttling, trusted proxies, the admin login, password-reset limits and HTTPS over
real HTTP, against `pressrun serve` (two processes) and `pressrun worker`.

The installation here is published the way the documentation says to publish one behind a
TLS-terminating proxy: `PRESSRUN_PUBLIC_BASE_URL=https://…`, `PRESSRUN_PROXY_HTTPS_HEADER=
X-Forwarded-Proto`, `PRESSRUN_CLIENT_ADDRESS_HEADER=X-Forwarded-For` with one trusted proxy.
The tests play that proxy: each request carries the client address it would append and
`X-Forwarded-Proto: https`, so every test can speak for many client addresses. It is a
service of its own (not the session's `live_service`, whose settings the other tests rely
on). The credential cache is off, so every sign-in goes through the throttle (what a cache
miss does), and the fast test hasher keeps the many checks quick: the throttle does not
depend on the hasher.
"""

from __future__ import annotations

import html
import http.client
import re
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.live import (
    CD_SLEEVE,
    PRESSRUN,
    Account,
    LiveService,
    _base_environment,
    _free_port,
    _read,
    _stop,
    _wait_for_health,
    _wait_for_worker,
    migrated_database,
)

pytestmark = pytest.mark.e2e

ORDER = "/gateway/order"
STATUS = "/gateway/status"
FAILURE_CODE = re.compile(r"^\[ERRORMSGBEGIN\]ERRCODE#(\d{6}) \[FAILURE\] (.*)\[ERRORMSGEND\]$")
ACCOUNT_CEILING = 20
ADDRESS_CEILING = 30
MAIL_WAIT_SECONDS = 60.0


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    """A fresh installation published on https behind one proxy, served and worked on."""
    data_dir = tmp_path_factory.mktemp("pressrun-secured")
    env = _base_environment(data_dir)
    port = _free_port()
    env.update(
        {
            "PRESSRUN_PUBLIC_BASE_URL": f"https://127.0.0.1:{port}",
            "PRESSRUN_PROXY_HTTPS_HEADER": "X-Forwarded-Proto",
            "PRESSRUN_CLIENT_ADDRESS_HEADER": "X-Forwarded-For",
            "PRESSRUN_TRUSTED_PROXY_COUNT": "1",
            "PRESSRUN_LOGIN_FAILURES_PER_ADDRESS": str(ADDRESS_CEILING),
            "PRESSRUN_LOGIN_FAILURES_PER_ACCOUNT": str(ACCOUNT_CEILING),
            "PRESSRUN_CREDENTIAL_CACHE_SECONDS": "0",
            "PRESSRUN_FAST_PASSWORD_HASHER": "1",
        }
    )
    database = migrated_database(env, data_dir, "e2esec")
    service = LiveService(
        base_url=f"http://127.0.0.1:{port}",
        env=env,
        data_dir=data_dir,
        account=Account(id=0, email="", password="", project_ids=()),
        server_log=data_dir / "server.log",
        worker_log=data_dir / "worker.log",
    )
    try:
        with service.server_log.open("wb") as server_out:
            server = subprocess.Popen(
                [str(PRESSRUN), "serve", "--host", "127.0.0.1", "--port", str(port)],
                env=env,
                stdout=server_out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        service.processes.append(server)
        with service.worker_log.open("wb") as worker_out:
            worker = subprocess.Popen(
                [str(PRESSRUN), "worker"],
                env=env,
                stdout=worker_out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        service.processes.append(worker)
        _wait_for_health(service, server)
        _wait_for_worker(service, worker)
        yield service
        for process in service.processes:
            _stop(process)
        for log in (service.server_log, service.worker_log):
            assert "Traceback" not in _read(log), _read(log)
    finally:
        service.close()
        for process in service.processes:
            _stop(process)
        if database is not None:
            database.drop()


# --- HTTP as the proxy forwards it ----------------------------------------------------------
@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    set_cookies: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


def call(
    service: LiveService,
    method: str,
    path: str,
    *,
    client: str | None = "203.0.113.10",
    https: bool = True,
    fields: dict[str, str] | None = None,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    client_written_forwarded_for: str = "",
) -> Reply:
    """One request as the proxy hands it on: the client's address appended to whatever
    X-Forwarded-For the client wrote itself, and X-Forwarded-Proto (or neither, with
    `client=None`: a request that did not come through the proxy). Redirects are not
    followed."""
    sent = dict(headers or {})
    if client is not None:
        hops = [hop for hop in (client_written_forwarded_for, client) if hop]
        sent["X-Forwarded-For"] = ", ".join(hops)
        sent["X-Forwarded-Proto"] = "https" if https else "http"
    if fields is not None:
        body = urlencode(fields).encode()
        sent.setdefault("Content-Type", "application/x-www-form-urlencoded")
    host, port = service.base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        connection.request(method, path, body=body, headers=sent)
        response = connection.getresponse()
        return Reply(
            response.status,
            {name.lower(): value for name, value in response.getheaders()},
            response.read(),
            response.headers.get_all("Set-Cookie") or [],
        )
    finally:
        connection.close()


def gateway_code(reply: Reply) -> str:
    """The ERRCODE of a gateway failure, or "SUCCESS"."""
    if reply.text.startswith("[SUCCESS]"):
        return "SUCCESS"
    match = FAILURE_CODE.match(reply.text)
    assert match, reply
    return match.group(1)


def gateway_message(reply: Reply) -> str:
    match = FAILURE_CODE.match(reply.text)
    assert match, reply
    return match.group(2)


@dataclass
class Publisher:
    account: Account
    invoices: Iterator[int] = field(default_factory=lambda: iter(range(1, 100_000)))

    def order(self, password: str | None = None) -> dict[str, str]:
        return {
            "ordermethod": "url",
            "source": "cdfulfill",
            "CoLoginEmail": self.account.email,
            "CoLoginPassword": self.account.password if password is None else password,
            "mode": "test",
            "productid": str(self.account.project_ids[0]),
            "Invoice": f"SEC-{next(self.invoices)}",
            "name": "Ann Customer",
            "addr": "1 Main St",
            "city": "Austin",
            "st": "TX",
            "zip": "78701",
        }


def new_publisher(service: LiveService) -> Publisher:
    return Publisher(service.create_publisher(balance="100.00", projects=CD_SLEEVE))


def together(calls: list[Callable[[], Reply]]) -> list[Reply]:
    """Send every call at the same moment, on its own connection."""
    barrier = threading.Barrier(len(calls))
    replies: list[Reply | None] = [None] * len(calls)

    def run(index: int) -> None:
        barrier.wait()
        replies[index] = calls[index]()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(reply is not None for reply in replies)
    return [reply for reply in replies if reply is not None]


class Browser:
    """Cookies and CSRF tokens for one client address (what a browser keeps)."""

    def __init__(self, service: LiveService, client: str) -> None:
        self.service = service
        self.client = client
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, fields: dict[str, str] | None = None) -> Reply:
        headers = {"Origin": "https://" + self.service.base_url.removeprefix("http://")}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        reply = call(self.service, method, path, client=self.client, fields=fields, headers=headers)
        for cookie in reply.set_cookies:
            name, _, rest = cookie.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        return reply

    def submit(self, path: str, fields: dict[str, str]) -> Reply:
        page = self.request("GET", path).text
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        assert token, page[:2000]
        return self.request(
            "POST", path, {"csrfmiddlewaretoken": html.unescape(token.group(1)), **fields}
        )


# --- the tests -------------------------------------------------------------------------------
def test_a_stranger_cannot_lock_out_the_publishers_own_script(secured: LiveService) -> None:
    """The probe's denial of service: 10 wrong passwords per 15 minutes kept a publisher's
    order script refused (000602) and the dashboard at 429."""
    publisher = new_publisher(secured)
    script, attacker = "203.0.113.10", "198.51.100.66"
    assert gateway_code(call(secured, "POST", ORDER, client=script, fields=publisher.order())) == (
        "SUCCESS"
    )
    codes = [
        gateway_code(
            call(secured, "POST", ORDER, client=attacker, fields=publisher.order(f"guess-{n}"))
        )
        for n in range(12)
    ]
    assert codes[:6] == ["000601"] * 5 + ["000602"]
    # Later guesses wait 1 s, 2 s…: a slow machine may let one or two more through.
    assert set(codes[6:]) <= {"000601", "000602"}
    assert codes.count("000601") <= 7
    # A botnet, one guess per address, up to the account's ceiling and beyond.
    for n in range(ACCOUNT_CEILING + 5):
        call(secured, "POST", ORDER, client=f"10.20.0.{n}", fields=publisher.order(f"bot-{n}"))
    refused = call(secured, "POST", ORDER, client="192.0.2.50", fields=publisher.order())
    assert gateway_code(refused) == "000602"
    assert gateway_message(refused).startswith(
        "Too many failed sign-in attempts. Too many failed sign-in attempts for this account."
    )
    # The publisher's script, from the address it has signed in from before: never refused.
    for _ in range(3):
        reply = call(secured, "POST", ORDER, client=script, fields=publisher.order())
        assert gateway_code(reply) == "SUCCESS"
    # The dashboard the same way: the known address signs in, a new one gets 429.
    signed_in = Browser(secured, script).submit(
        "/sign-in", {"email": publisher.account.email, "password": publisher.account.password}
    )
    assert (signed_in.status, signed_in.headers["location"]) == (302, "/home")
    elsewhere = Browser(secured, "192.0.2.51").submit(
        "/sign-in", {"email": publisher.account.email, "password": publisher.account.password}
    )
    assert elsewhere.status == 429
    assert 800 <= int(elsewhere.headers["retry-after"]) <= 901


def test_delays_grow_for_one_account_from_one_address(secured: LiveService) -> None:
    publisher = new_publisher(secured)
    guesser = "198.51.100.77"

    def guess(n: int) -> Reply:
        return call(secured, "POST", ORDER, client=guesser, fields=publisher.order(f"g-{n}"))

    assert [gateway_code(guess(n)) for n in range(5)] == ["000601"] * 5
    throttled = guess(5)
    assert gateway_code(throttled) == "000602"
    assert gateway_message(throttled) == (
        "Too many failed sign-in attempts. Too many failed sign-in attempts for this account "
        "from your address. Try again in 1 second."
    )
    time.sleep(1.2)
    assert gateway_code(guess(5)) == "000601"
    assert gateway_message(guess(6)).endswith("Try again in 2 seconds.")
    time.sleep(2.2)
    assert gateway_code(guess(6)) == "000601"
    status = call(
        secured,
        "POST",
        STATUS,
        client=guesser,
        fields={
            "function": "getOrderStatusByInvoice",
            "CoLoginEmail": publisher.account.email,
            "CoLoginPassword": "g-7",
            "Invoice": "X",
        },
    )
    assert "<ErrorNum>210</ErrorNum>" in status.text
    assert "Try again in 4 seconds." in status.text
    page = Browser(secured, guesser).submit(
        "/sign-in", {"email": publisher.account.email, "password": "g-7"}
    )
    assert page.status == 429
    assert page.headers["retry-after"] in {"3", "4"}
    assert page.headers["cache-control"] == "no-store, private"
    assert "Too many failed sign-in attempts for this account from your address." in page.text


def test_concurrent_wrong_passwords_get_exactly_the_limit_of_checks(secured: LiveService) -> None:
    one_address = new_publisher(secured)
    replies = together(
        [
            lambda n=n: call(
                secured, "POST", ORDER, client="198.51.100.80", fields=one_address.order(f"c-{n}")
            )
            for n in range(30)
        ]
    )
    assert Counter(gateway_code(reply) for reply in replies) == {"000601": 5, "000602": 25}

    many_addresses = new_publisher(secured)
    replies = together(
        [
            lambda n=n: call(
                secured, "POST", ORDER, client=f"10.30.0.{n}", fields=many_addresses.order(f"m-{n}")
            )
            for n in range(2 * ACCOUNT_CEILING)
        ]
    )
    assert Counter(gateway_code(reply) for reply in replies) == {
        "000601": ACCOUNT_CEILING,
        "000602": ACCOUNT_CEILING,
    }


def test_a_burst_of_right_passwords_from_a_new_address_is_never_refused(
    secured: LiveService,
) -> None:
    publisher = new_publisher(secured)
    replies = together(
        [
            lambda: call(secured, "POST", ORDER, client="192.0.2.60", fields=publisher.order())
            for _ in range(16)
        ]
    )
    assert [gateway_code(reply) for reply in replies] == ["SUCCESS"] * 16


def test_spoofed_forwarded_for_entries_do_not_escape_the_address_ceiling(
    secured: LiveService,
) -> None:
    """The probe: behind an appending proxy, writing a new leftmost X-Forwarded-For entry
    every time, 40 of 40 attempts were never throttled."""
    codes = []
    for n in range(40):
        fields = Publisher(Account(0, f"nobody-{n}@example.com", "pw", (1,))).order("guess")
        reply = call(
            secured,
            "POST",
            ORDER,
            client="198.51.100.99",
            client_written_forwarded_for=f"100.64.{n}.1, 100.65.{n}.2",
            fields=fields,
        )
        codes.append(gateway_code(reply))
    assert codes == ["000601"] * ADDRESS_CEILING + ["000602"] * (40 - ADDRESS_CEILING)
    message = gateway_message(call(secured, "POST", ORDER, client="198.51.100.99", fields=fields))
    assert "from your address" in message


def test_the_operator_login_is_throttled(secured: LiveService) -> None:
    """The probe sent 100 wrong admin passwords and every one was checked."""
    secured.shell(
        "from django.contrib.auth import get_user_model; "
        "get_user_model().objects.create_superuser('opal', '', 'operator secret 123')"
    )
    browser = Browser(secured, "198.51.100.90")
    statuses = []
    for n in range(7):
        reply = browser.submit(
            "/admin/login/?next=/admin/", {"username": "opal", "password": f"guess-{n}"}
        )
        statuses.append(reply.status)
    assert statuses[:6] == [200] * 5 + [429]
    assert reply.headers["retry-after"] in {"1", "2"}
    assert "Too many failed sign-in attempts for this account from your address." in reply.text
    # The operator, from another address, is not held back.
    operator = Browser(secured, "203.0.113.20").submit(
        "/admin/login/?next=/admin/", {"username": "opal", "password": "operator secret 123"}
    )
    assert (operator.status, operator.headers["location"]) == (302, "/admin/")


def _emails_to(mail_dir: Path, recipient: str) -> int:
    needle = f"To: {recipient}".encode()
    if not mail_dir.is_dir():
        return 0
    return sum(path.read_bytes().count(needle) for path in mail_dir.glob("*.log"))


def _wait_for_reset_tasks(service: LiveService, expected: int) -> None:
    code = (
        "from django_tasks_db.models import DBTaskResult; "
        "print(DBTaskResult.objects.filter("
        "task_path='pressrun.dashboard.tasks.password_reset_email_send', "
        "status='SUCCESSFUL').count())"
    )
    deadline = time.monotonic() + MAIL_WAIT_SECONDS
    while time.monotonic() < deadline:
        if int(service.shell(code)) >= expected:
            return
        time.sleep(0.5)
    pytest.fail(f"fewer than {expected} reset tasks ran within {MAIL_WAIT_SECONDS:.0f} s")


def test_password_reset_limit_holds_across_both_web_processes(secured: LiveService) -> None:
    """20 requests gave 6 emails: the limit lived in each process's memory."""
    publisher = new_publisher(secured)
    browsers = [Browser(secured, f"10.40.0.{n}") for n in range(20)]
    forms, cache_control = [], set()
    for browser in browsers:
        page = browser.request("GET", "/password-reset")
        cache_control.add(page.headers.get("cache-control"))
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert token
        forms.append(html.unescape(token.group(1)))
    replies = together(
        [
            lambda browser=browser, token=token: browser.request(
                "POST",
                "/password-reset",
                {"csrfmiddlewaretoken": token, "email": publisher.account.email},
            )
            for browser, token in zip(browsers, forms, strict=True)
        ]
    )
    assert [reply.status for reply in replies] == [302] * 20
    _wait_for_reset_tasks(secured, 5)
    time.sleep(1)  # a sixth email, if any, would have been sent by now
    assert _emails_to(secured.data_dir / "mail", publisher.account.email) == 5
    assert cache_control == {"no-store, private"}


def test_https_only_behind_the_proxy(secured: LiveService) -> None:
    publisher = new_publisher(secured)
    host = secured.base_url.removeprefix("http://")
    page = call(secured, "GET", "/sign-in?next=%2Forders", https=False)
    assert page.status == 301
    assert page.headers["location"] == f"https://{host}/sign-in?next=%2Forders"
    assert "strict-transport-security" not in page.headers
    assert call(secured, "GET", "/admin/login/", https=False).status == 301

    page = call(secured, "GET", "/sign-in")
    assert page.status == 200
    assert page.headers["strict-transport-security"] == "max-age=31536000"
    assert page.headers["cache-control"] == "no-store, private"

    refused = call(secured, "POST", ORDER, https=False, fields=publisher.order())
    assert refused.status == 403
    assert gateway_code(refused) == "000603"
    status = call(secured, "GET", STATUS + "?function=getOrderStatusByInvoice", https=False)
    assert status.status == 403
    assert "<ErrorNum>220</ErrorNum>" in status.text

    cart = call(
        secured,
        "POST",
        f"/carts/samcart?idpub={publisher.account.id}&token={_cart_token(secured, publisher)}",
        https=False,
        body=b'{"type": "Order", "order": {"id": "1"}, "products": []}',
        headers={"Content-Type": "application/json"},
    )
    assert cart.status == 200, cart
    assert call(secured, "GET", "/health", https=False).status == 200


def _cart_token(service: LiveService, publisher: Publisher) -> str:
    return service.shell(
        "from pressrun.accounts.models import Publisher; "
        f"print(Publisher.objects.get(id={publisher.account.id}).cart_token)"
    )


def test_requests_that_bypass_the_proxy_count_as_its_own_address(secured: Any) -> None:
    """Without the header (a request straight to the server) the peer address counts."""
    publisher = new_publisher(secured)
    codes = [
        gateway_code(
            call(
                secured,
                "POST",
                ORDER,
                client=None,
                headers={"X-Forwarded-Proto": "https"},
                fields=publisher.order(f"direct-{n}"),
            )
        )
        for n in range(6)
    ]
    assert codes == ["000601"] * 5 + ["000602"]
