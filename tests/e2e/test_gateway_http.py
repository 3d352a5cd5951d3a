"""The HTTP gateway over real HTTP, against `pressrun serve` and `pressrun worker` processes.

Requests are made the way a publisher's script makes them (urllib, URL-encoded GET query
strings and form bodies, raw sockets for malformed input); outcomes are checked through the
gateway's own replies and the `pressrun` command.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote_from_bytes, quote_plus, urlencode, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pressrun.core.webfront import DEFAULT_MAX_BODY_BYTES
from tests.live import Account, LiveService

pytestmark = pytest.mark.e2e

ORDER = "/gateway/order"
STATUS = "/gateway/status"
FAILURE = re.compile(
    r"\[ERRORMSGBEGIN\]ERRCODE#(?P<code>\d{6}) \[FAILURE\] (?P<message>.*)\[ERRORMSGEND\]",
    re.DOTALL,
)
STATUS_FIELDS = [
    "ErrorNum",
    "ErrorDesc",
    "CustName",
    "Invoice",
    "OrderStatus",
    "OrderStatusErrNum",
    "OrderStatusErrDesc",
    "ShipDate",
    "ShippingMethod",
    "TrackingID",
]
STATUS_ERROR_NUMS = {"0", "100", "200", "210", "300", "310", "400"}
# The spec's SpecialText example, URL-encoded exactly as the gateway document shows it.
SPEC_SPECIAL_TEXT_ENCODED = (
    "Thank+you+for+ordering%2E++Your+unlock+code+is+123%2D23456%2E++Email+questions+to+"
    "help%40somedomain%2Ecom"
)
SPEC_SPECIAL_TEXT = (
    "Thank you for ordering.  Your unlock code is 123-23456.  Email questions to "
    "help@somedomain.com"
)
# Request lines up to this length always reach the gateway. The web server refuses far longer
# ones itself: HTTP 414 for a URL over 64 KB, 431 for a request head over its buffer.
REQUEST_LINE_LIMIT = 8190
REFUSED_BY_THE_WEB_SERVER = {414, 431}
# The serve front's body limit (PRESSRUN_WEB_MAX_BODY_BYTES): a larger body is answered 413
# before the gateway sees it. The fuzzer's huge values can add up past it.
BODY_LIMIT = DEFAULT_MAX_BODY_BYTES


# --- HTTP helpers ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Reply:
    status: int
    raw: bytes
    content_type: str

    @property
    def text(self) -> str:
        return self.raw.decode("utf-8")


def send(
    service: LiveService,
    path: str,
    *,
    method: str = "POST",
    fields: dict[str, str] | None = None,
    query: str | None = None,
    body: bytes | None = None,
    content_type: str = "application/x-www-form-urlencoded",
    timeout: float = 60,
) -> Reply:
    """One request as a publisher's script sends it: GET puts the fields in the query string,
    POST in a form body (unless `query` / `body` give the exact encoded text)."""
    encoded = urlencode(fields or {})
    url = service.url(path)
    data: bytes | None = None
    if method == "GET":
        url += "?" + (query if query is not None else encoded)
    else:
        data = body if body is not None else encoded.encode("ascii")
        if query is not None:
            url += "?" + query
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Reply(response.status, response.read(), response.headers["Content-Type"])
    except urllib.error.HTTPError as error:
        return Reply(error.code, error.read(), error.headers.get("Content-Type", ""))


def order_fields(account: Account, invoice: str, **overrides: str) -> dict[str, str]:
    fields = {
        "ordermethod": "url",
        "source": "cdfulfill",
        "CoLoginEmail": account.email,
        "CoLoginPassword": account.password,
        "mode": "prod",
        "productid": str(account.project_ids[0]) if account.project_ids else "1",
        "quantity": "1",
        "Invoice": invoice,
        "name": "John H. Smith",
        "addr": "123 Some Street, Apt 12",
        "city": "Minneapolis",
        "st": "MN",
        "zip": "55401",
        "email": "john@example.com",
    }
    fields.update(overrides)
    return fields


def status_fields(account: Account, *invoices: str, password: str | None = None) -> dict[str, str]:
    return {
        "function": "getOrderStatusByInvoice",
        "Invoice": "[*|*]".join(invoices),
        "CoLoginEmail": account.email,
        "CoLoginPassword": account.password if password is None else password,
    }


def success(reply: Reply) -> dict[str, str]:
    """The `Key: value` lines of a [SUCCESS] reply."""
    assert reply.status == 200, reply
    assert reply.text.startswith("[SUCCESS]\n"), reply.text
    values = {}
    for line in reply.text.splitlines()[1:]:
        if line:
            key, _, value = line.partition(": ")
            values[key] = value
    return values


def failure_code(reply: Reply) -> str:
    assert reply.status == 200, reply
    match = FAILURE.fullmatch(reply.text)
    assert match, reply.text
    return match.group("code")


def sections(reply: Reply) -> list[dict[str, str]]:
    """The StatusN sections of a status reply, checked for shape, in order."""
    assert reply.status == 200, reply
    assert reply.content_type.startswith("application/xml"), reply.content_type
    root = ET.fromstring(reply.raw)
    assert root.tag == "OrderStatusResponse"
    found = []
    for number, section in enumerate(root, start=1):
        assert section.tag == f"Status{number}"
        values = {element.tag: element.text or "" for element in section}
        assert list(values) == STATUS_FIELDS, values
        assert all(len(element) == 0 for element in section)
        found.append(values)
    return found


def place(service: LiveService, account: Account, invoice: str, **overrides: str) -> str:
    """Place an order by POST; returns its order ID."""
    reply = send(service, ORDER, fields=order_fields(account, invoice, **overrides))
    return success(reply)["Order"]


def statuses(service: LiveService, account: Account, invoices: Sequence[str]) -> list[str]:
    found = sections(send(service, STATUS, fields=status_fields(account, *invoices)))
    assert [section["Invoice"] for section in found] == list(invoices)
    assert {section["ErrorNum"] for section in found} == {"0"}, found
    return [section["OrderStatus"] for section in found]


def concurrently(calls: Sequence[Callable[[], Reply]]) -> list[Reply]:
    """Run the calls in threads released together by a barrier; replies in call order."""
    barrier = threading.Barrier(len(calls))
    replies: list[Reply | BaseException | None] = [None] * len(calls)

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            replies[index] = calls[index]()
        except BaseException as exc:  # reported below, in the test's thread
            replies[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    errors = [reply for reply in replies if not isinstance(reply, Reply)]
    assert not errors, errors
    return [reply for reply in replies if isinstance(reply, Reply)]


def balance(service: LiveService, account: Account) -> str:
    return service.shell(
        "from pressrun.accounts.models import Publisher; "
        f"print(Publisher.objects.get(id={account.id}).balance)"
    )


# --- placing orders and asking for their status ---------------------------------------------
def test_get_and_post_orders_then_status_by_get_and_post(live_service: LiveService) -> None:
    service, account = live_service, live_service.account
    # An invoice that needs URL encoding, like the document's "ID 000052 5/16/18".
    by_get = service.unique("ID 000052 5/16/18")
    by_post = service.unique("POST")
    query = urlencode(order_fields(account, by_get), quote_via=quote_plus)
    assert "ID+000052+5%2F16%2F18" in query
    placed = success(send(service, ORDER, method="GET", query=query))
    assert placed["Invoice"] == by_get
    assert placed["Status"] == "PROCESSING"
    assert placed["ShippingMethod"] == "standard"
    placed = success(
        send(service, ORDER, fields=order_fields(account, by_post, typeMailMethod="priority"))
    )
    assert placed["Status"] == "PROCESSING"

    by_get_status = sections(
        send(service, STATUS, method="GET", fields=status_fields(account, by_get))
    )
    assert len(by_get_status) == 1
    assert by_get_status[0] == {
        "ErrorNum": "0",
        "ErrorDesc": "",
        "CustName": "John H. Smith",
        "Invoice": by_get,
        "OrderStatus": "PROCESSING",
        "OrderStatusErrNum": "0",
        "OrderStatusErrDesc": "",
        "ShipDate": "",
        "ShippingMethod": "standard",
        "TrackingID": "",
    }
    missing = service.unique("MISSING")
    found = sections(
        send(
            service, STATUS, method="POST", fields=status_fields(account, by_post, missing, by_get)
        )
    )
    assert [s["Invoice"] for s in found] == [by_post, missing, by_get]
    assert [s["ErrorNum"] for s in found] == ["0", "300", "0"]
    assert [s["OrderStatus"] for s in found] == ["PROCESSING", "", "PROCESSING"]
    assert [s["ShippingMethod"] for s in found] == ["priority", "", "standard"]


def test_test_mode_order_is_reported_as_error_20(live_service: LiveService) -> None:
    service, account = live_service, live_service.account
    invoice = service.unique("TEST")
    assert (
        success(send(service, ORDER, fields=order_fields(account, invoice, mode="test")))["Status"]
        == "TEST"
    )
    [section] = sections(
        send(service, STATUS, method="GET", fields=status_fields(account, invoice))
    )
    assert section["OrderStatus"] == "ERROR"
    assert section["OrderStatusErrNum"] == "20"


def test_the_documents_multi_product_example(live_service: LiveService) -> None:
    service, account = live_service, live_service.account
    invoice = service.unique("MULTI")
    a, b, c = account.project_ids
    query = "&".join(
        f"{name}={quote_plus(value)}"
        for name, value in order_fields(account, invoice).items()
        if name not in {"productid", "quantity"}
    )
    query += f"&productid={a}x{b}x{c}&quantity=4x2x2"
    placed = success(send(service, ORDER, method="GET", query=query))
    assert placed["Products"] == f"{a}x{b}x{c}"
    assert placed["Quantities"] == "4x2x2"
    # 4 x 4.50 + 2 x 6.25 + 2 x 9.00, and 8 units as a parcel: 4.50 + 7 x 0.75.
    assert placed["Total"] == "$58.25"
    assert placed["ShippingMethod"] == "standard+tracking"
    [section] = sections(send(service, STATUS, fields=status_fields(account, invoice)))
    assert section["OrderStatus"] == "PROCESSING"
    assert section["ShippingMethod"] == "standard+tracking"


def test_special_text_url_encoded_as_in_the_document(live_service: LiveService) -> None:
    service, account = live_service, live_service.account
    invoice = service.unique("TEXT")
    fields = order_fields(account, invoice)
    query = urlencode(fields) + "&SpecialText=" + SPEC_SPECIAL_TEXT_ENCODED
    order_id = success(send(service, ORDER, method="GET", query=query))["Order"]
    stored = service.shell(
        "import json; from pressrun.orders.models import Order; "
        f"print(json.dumps(Order.objects.get(id={order_id}).special_text))"
    )
    assert json.loads(stored) == SPEC_SPECIAL_TEXT


def test_windows_1252_and_utf_8_bodies(live_service: LiveService) -> None:
    service, account = live_service, live_service.account
    cases = [
        # Classic ASP / PHP: Windows-1252, percent-encoded, no charset.
        (b"&name=Jos%E9+Mu%F1oz&city=K%F6ln", "application/x-www-form-urlencoded", "José Muñoz"),
        # Windows-1252 raw bytes, with the charset declared ("\x80" is the euro sign there).
        (
            b"&name=Fran\xe7ois Dupr\xe9 \x80&city=Besan\xe7on",
            "application/x-www-form-urlencoded; charset=windows-1252",
            "François Dupré €",
        ),
        (
            b"&name=Jos%C3%A9+Mu%C3%B1oz&city=K%C3%B6ln",
            "application/x-www-form-urlencoded",
            "José Muñoz",
        ),
    ]
    for extra, content_type, expected_name in cases:
        invoice = service.unique("CP1252")
        fields = order_fields(account, invoice)
        del fields["name"], fields["city"]
        body = urlencode(fields).encode() + extra
        placed = success(send(service, ORDER, body=body, content_type=content_type))
        assert placed["Invoice"] == invoice
        [section] = sections(send(service, STATUS, fields=status_fields(account, invoice)))
        assert section["CustName"] == expected_name


def test_a_get_order_with_long_non_ascii_fields_within_the_limits(
    live_service: LiveService,
) -> None:
    """Every free-text field at its documented maximum, in accented letters, fully encoded
    as PHP's http_build_query does: about 6 KB of query string, well under the documented
    64 KB. It must reach the gateway, not be refused by the web server."""
    service, account = live_service, live_service.account
    invoice = service.unique("LONG")
    fields = order_fields(
        account,
        invoice,
        name="é" * 100,
        co="ü" * 100,
        addr="1 Straße " + "ö" * 191,
        city="à" * 100,
        SpecialText="ñ" * 500,
    )
    query = urlencode(fields, quote_via=quote_plus)
    assert len(query) > 6000
    placed = success(send(service, ORDER, method="GET", query=query))
    assert placed["Invoice"] == invoice


# --- HOLD orders and payments ---------------------------------------------------------------
def test_addcredit_releases_the_hold_orders_it_covers_oldest_first(
    live_service: LiveService,
) -> None:
    service = live_service
    account = service.create_publisher()  # no balance
    invoices = [service.unique("HOLD") for _ in range(4)]
    # 6.00 (CD sleeve as a letter), 14.25 (two: 9.00 + parcel 5.25), 6.00, 6.00
    quantities = ["1", "2", "1", "1"]
    replies = [
        success(send(service, ORDER, fields=order_fields(account, inv, quantity=qty)))
        for inv, qty in zip(invoices, quantities, strict=True)
    ]
    assert [r["Status"] for r in replies] == ["HOLD"] * 4
    assert [r["Total"] for r in replies] == ["$6.00", "$14.25", "$6.00", "$6.00"]
    ids = [r["Order"] for r in replies]
    assert statuses(service, account, invoices) == ["HOLD"] * 4

    # 13.00 pays the first (7.00 left), skips the second (too large), pays the third.
    output = service.pressrun("addcredit", "--publisher", str(account.id), "--amount", "13.00")
    assert f"Released HOLD orders: {ids[0]}, {ids[2]}." in output, output
    assert "balance $1.00" in output, output
    assert statuses(service, account, invoices) == ["PROCESSING", "HOLD", "PROCESSING", "HOLD"]

    output = service.pressrun("addcredit", "--publisher", str(account.id), "--amount", "$20")
    assert f"Released HOLD orders: {ids[1]}, {ids[3]}." in output, output
    assert "balance $0.75" in output, output
    assert statuses(service, account, invoices) == ["PROCESSING"] * 4
    assert balance(service, account) == "0.75"


# --- concurrency ----------------------------------------------------------------------------
def test_forty_simultaneous_submissions_of_one_invoice_make_one_order(
    live_service: LiveService,
) -> None:
    service, account = live_service, live_service.account
    invoice = service.unique("SAME")
    fields = order_fields(account, invoice)
    replies = concurrently([lambda: send(service, ORDER, fields=fields)] * 40)
    successes = [r for r in replies if r.text.startswith("[SUCCESS]")]
    assert len(successes) == 1, [r.text for r in replies]
    codes = Counter(failure_code(r) for r in replies if r not in successes)
    assert codes == {"000035": 39}, codes
    [section] = sections(send(service, STATUS, fields=status_fields(account, invoice)))
    assert section["ErrorNum"] == "0"
    assert section["OrderStatus"] == "PROCESSING"
    counted = service.shell(
        "from pressrun.orders.models import Order; from pressrun.billing.models import "
        f"LedgerEntry; print(Order.objects.filter(invoice={invoice!r}).count(), "
        f"LedgerEntry.objects.filter(order__invoice={invoice!r}).count())"
    )
    assert counted == "1 1"


def test_twenty_simultaneous_orders_when_the_balance_covers_seven(
    live_service: LiveService,
) -> None:
    service = live_service
    account = service.create_publisher(balance="45.00")  # 7 x 6.00, and 3.00 over
    invoices = [service.unique("RACE") for _ in range(20)]
    replies = concurrently(
        [
            (lambda inv=inv: send(service, ORDER, fields=order_fields(account, inv)))
            for inv in invoices
        ]
    )
    placed = [success(reply) for reply in replies]
    assert Counter(p["Status"] for p in placed) == {"PROCESSING": 7, "HOLD": 13}
    reported = statuses(service, account, invoices)
    assert reported == [p["Status"] for p in placed]
    assert balance(service, account) == "3.00"
    ledger = service.shell(
        "from django.db.models import Sum; from pressrun.billing.models import LedgerEntry; "
        f"q = LedgerEntry.objects.filter(publisher_id={account.id}); "
        "print(q.count(), q.aggregate(total=Sum('amount'))['total'])"
    )
    count, total = ledger.split()
    assert (count, Decimal(total)) == ("8", Decimal("3.00"))  # the payment and seven charges


# --- credentials ----------------------------------------------------------------------------
def test_wrong_password_is_refused_and_the_right_one_still_works(
    live_service: LiveService,
) -> None:
    service, account = live_service, live_service.account
    invoice = service.unique("PW")
    wrong = order_fields(account, invoice, CoLoginPassword="not the password")
    assert failure_code(send(service, ORDER, fields=wrong)) == "000601"
    found = sections(send(service, STATUS, fields=status_fields(account, invoice, password="x")))
    assert found[0]["ErrorNum"] == "200"
    missing = order_fields(account, invoice, CoLoginPassword="")
    assert failure_code(send(service, ORDER, fields=missing)) == "000503"
    assert (
        success(send(service, ORDER, fields=order_fields(account, invoice)))["Invoice"] == invoice
    )


def test_repeated_wrong_passwords_are_throttled(live_service: LiveService) -> None:
    service = live_service
    account = service.create_publisher(projects=())
    fields = order_fields(account, service.unique("THROTTLE"), CoLoginPassword="guess-0")
    codes = []
    for attempt in range(6):
        fields["CoLoginPassword"] = f"guess-{attempt}"
        codes.append(failure_code(send(service, ORDER, fields=fields)))
    # Five free failures for one account from one address, then a growing delay.
    assert codes == ["000601"] * 5 + ["000602"]
    found = sections(send(service, STATUS, fields=status_fields(account, "A", password="guess")))
    assert found[0]["ErrorNum"] == "210"


def test_a_changed_password_stops_the_cached_old_one_in_every_process(
    live_service: LiveService,
) -> None:
    service = live_service
    account = service.create_publisher(balance="100.00")
    new_password = "a-brand-new-password"

    def burst(password: str) -> list[Reply]:
        calls: list[Callable[[], Reply]] = []
        for _ in range(4):
            fields = order_fields(account, service.unique("CHG"), CoLoginPassword=password)
            calls.append(lambda fields=fields: send(service, ORDER, fields=fields))
            calls.append(
                lambda: send(
                    service, STATUS, fields=status_fields(account, "none", password=password)
                )
            )
        return concurrently(calls)

    # Simultaneous requests are spread over both web processes: each caches the password.
    for _ in range(2):
        for reply in burst(account.password):
            if reply.content_type.startswith("text/plain"):
                success(reply)
            else:
                assert sections(reply)[0]["ErrorNum"] == "300"

    service.shell(
        "from pressrun.accounts.models import Publisher; "
        "from pressrun.accounts.services import publisher_set_password; "
        f"publisher_set_password(publisher=Publisher.objects.get(id={account.id}), "
        f"password={new_password!r})"
    )

    # The same old password again and again counts as one failure (the attempts that arrive
    # while it is being checked wait for that check), so the new one is not held back.
    for reply in burst(account.password):
        if reply.content_type.startswith("text/plain"):
            assert failure_code(reply) == "000601"
        else:
            assert sections(reply)[0]["ErrorNum"] == "200"
    for reply in burst(new_password):
        if reply.content_type.startswith("text/plain"):
            success(reply)
        else:
            assert sections(reply)[0]["ErrorNum"] == "300"


# --- the worker -----------------------------------------------------------------------------
WAIT_FOR_TASKS = """
import time
from django_tasks_db.models import DBTaskResult
ids = {ids!r}
deadline = time.monotonic() + 30
while True:
    rows = list(DBTaskResult.objects.filter(id__in=ids).values_list("status", "worker_ids"))
    if all(status in ("SUCCESSFUL", "FAILED") for status, _ in rows) or time.monotonic() > deadline:
        break
    time.sleep(0.2)
for status, worker_ids in rows:
    print(status, ",".join(worker_ids))
print("ready", DBTaskResult.objects.filter(
    task_path="pressrun.core.tasks.housekeeping", status="READY").count())
"""


def test_the_worker_runs_housekeeping_when_it_is_due(live_service: LiveService) -> None:
    service = live_service
    ids = service.shell(
        "from django.utils import timezone; from django_tasks_db.models import DBTaskResult; "
        "q = DBTaskResult.objects.filter(task_path='pressrun.core.tasks.housekeeping', "
        "status='READY'); ids = [str(i) for i in q.values_list('id', flat=True)]; "
        "q.update(run_after=timezone.now()); print(' '.join(ids))"
    ).split()
    assert len(ids) == 1, "the worker schedules exactly one housekeeping run at start"
    output = service.shell(WAIT_FOR_TASKS.format(ids=ids), timeout=60).splitlines()
    assert output[0].startswith("SUCCESSFUL "), output
    # It scheduled its next run.
    assert output[-1] == "ready 1", output


def test_a_task_left_running_by_a_dead_worker_is_requeued_and_run(
    live_service: LiveService,
) -> None:
    service = live_service
    task_id = service.shell(
        "from django.db import transaction; from django.utils import timezone; "
        "from django_tasks_db.models import DBTaskResult; "
        "from pressrun.core.tasks import housekeeping\n"
        "with transaction.atomic():\n"
        "    result = housekeeping.enqueue()\n"
        "    DBTaskResult.objects.filter(id=result.id).update(status='RUNNING', "
        "worker_ids=['dead-worker'], started_at=timezone.now())\n"
        "print(result.id)"
    )
    output = service.shell(WAIT_FOR_TASKS.format(ids=[task_id]), timeout=60).splitlines()
    status, worker_ids = output[0].split(" ")
    assert status == "SUCCESSFUL", output
    dead, alive = worker_ids.split(",")
    assert dead == "dead-worker"
    assert alive != "dead-worker"
    assert f"requeued task {task_id}" in service.worker_log.read_text()


# --- fuzzing over real HTTP -----------------------------------------------------------------
KNOWN_FIELDS = [
    "productid",
    "quantity",
    "Invoice",
    "typeMailMethod",
    "CoLoginEmail",
    "CoLoginPassword",
    "mode",
    "email",
    "bSendOrderNotificationEmail",
    "nprice",
    "nPrice",
    "bUsePriceOnCustomsForm",
    "name",
    "co",
    "addr",
    "city",
    "st",
    "zip",
    "country",
    "SpecialText",
    "ordermethod",
    "source",
    "function",
]
ODD_VALUES = [
    "",
    " ",
    "1xx",
    "x",
    "xx",
    "--1",
    "-1",
    "0",
    "1x",
    "x1",
    "1X2",
    "1 x 2",
    "1x2x3x4",
    "250",
    "251",
    "125x126",
    "99999999999999999999999",
    "1e3",
    "1.5",
    "١٢٣",
    "[*|*]",
    "[*|*][*|*]",
    "a[*|*]b[*|*]",
    "%",
    "%zz",
    "&",
    "=",
    "+",
    "<b>hi</b>",
    "]]>",
    "&amp;",
    "\x00",
    "\x7f",
    "\t",
    "\r\n",
    "[ERRORMSGEND]",
    "test",
    "prod",
    "express",
    "standard+tracking",
    "IT (Italy)",
    "MN Minnesota",
    "UniTed KINGdom",
    "$19.95",
    "NaN",
    "Infinity",
]
KNOWN_NAMES = st.sampled_from(KNOWN_FIELDS).flatmap(
    lambda name: st.sampled_from([name, name.lower(), name.upper(), f" {name} "])
)
# Mostly printable text, so that most requests get past the control-character check and
# reach the order checks and intake; sometimes anything at all, or raw bytes.
PRINTABLE = st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=30)
FIELD_NAMES = st.one_of(KNOWN_NAMES, KNOWN_NAMES, KNOWN_NAMES, PRINTABLE, st.binary(max_size=8))
FIELD_VALUES = st.one_of(
    st.sampled_from(ODD_VALUES),
    st.sampled_from(ODD_VALUES),
    PRINTABLE,
    PRINTABLE,
    st.text(max_size=30),
    st.binary(max_size=30),
    st.integers(min_value=-(10**25), max_value=10**25).map(str),
    # Huge: over the field limits, over the 64 KB request limit.
    st.builds(
        lambda char, size: char * size,
        st.sampled_from(["a", "é", "€", "1", "x", " ", "%", "[*|*]"]),
        st.sampled_from([51, 501, 2001, 5000, 70_000]),
    ),
)
CREDENTIALS = st.sampled_from(["valid"] * 5 + ["missing", "unknown", "empty email"])
SEPARATORS = st.sampled_from(["&"] * 6 + ["&&", ";", "&=&"])


def _encode(part: str | bytes) -> str:
    raw = part.encode("utf-8", "surrogatepass") if isinstance(part, str) else part
    return quote_from_bytes(raw, safe="")


@dataclass
class FuzzRequest:
    method: str
    query: str
    body: bytes | None


@st.composite
def fuzz_requests(draw: Any, base: Callable[[str], dict[str, str]]) -> FuzzRequest:
    """A mostly valid request with random fields dropped, replaced or added; one in four
    is left valid (only the encoding, field order and placement vary)."""
    fields: list[tuple[str | bytes, str | bytes]] = list(base(draw(CREDENTIALS)).items())
    extra: list[tuple[str | bytes, str | bytes]] = []
    if draw(st.integers(0, 3)):
        dropped = draw(st.sets(st.integers(0, len(fields) - 1), max_size=2))
        fields = [pair for index, pair in enumerate(fields) if index not in dropped]
        extra = draw(st.lists(st.tuples(FIELD_NAMES, FIELD_VALUES), max_size=4))
        replace = draw(st.lists(st.tuples(st.sampled_from(KNOWN_FIELDS), FIELD_VALUES), max_size=3))
        by_name = {str(name).lower(): i for i, (name, _) in enumerate(fields)}
        for name, value in replace:
            if name.lower() in by_name:
                fields[by_name[name.lower()]] = (name, value)
            else:
                fields.append((name, value))
    fields += extra
    fields = draw(st.permutations(fields))
    separator = draw(SEPARATORS)
    text = separator.join(f"{_encode(name)}={_encode(value)}" for name, value in fields)
    method = draw(st.sampled_from(["GET", "POST"]))
    if method == "GET":
        return FuzzRequest("GET", text, None)
    # Sometimes part of the fields travel in the query string of a POST.
    cut = draw(st.integers(0, len(fields)))
    query = separator.join(f"{_encode(n)}={_encode(v)}" for n, v in fields[:cut])
    body = separator.join(f"{_encode(n)}={_encode(v)}" for n, v in fields[cut:])
    return FuzzRequest("POST", query, body.encode("ascii"))


def _fuzz_send(service: LiveService, path: str, request: FuzzRequest) -> Reply | None:
    """The reply, or None when the web server refused an over-long request line or a body
    over its limit."""
    line = f"{request.method} {urlsplit(service.url(path)).path}?{request.query} HTTP/1.1"
    try:
        reply = send(
            service,
            path,
            method=request.method,
            query=request.query if request.method == "GET" or request.query else None,
            body=request.body,
        )
    except (urllib.error.URLError, ConnectionError):
        # Refusing an over-long request line, the web server answers and closes without
        # reading the body; a client still sending it sees a broken pipe instead.
        if len(line) > REQUEST_LINE_LIMIT:
            return None
        raise
    if reply.status in REFUSED_BY_THE_WEB_SERVER:
        assert len(line) > REQUEST_LINE_LIMIT, line[:200]
        return None
    if reply.status == 413:
        assert request.body is not None, line[:200]
        assert len(request.body) > BODY_LIMIT, line[:200]
        return None
    assert reply.status == 200, (reply, line[:300])
    return reply


def _credentials(account: Account, kind: str) -> dict[str, str]:
    if kind == "valid":
        return {"CoLoginEmail": account.email, "CoLoginPassword": account.password}
    if kind == "unknown":
        # Wrong passwords go to an account that does not exist, so the fuzzed account is
        # never throttled; the same wrong password again is refused without hashing.
        return {"CoLoginEmail": "nobody@example.com", "CoLoginPassword": "wrong password"}
    if kind == "empty email":
        return {"CoLoginEmail": "", "CoLoginPassword": account.password}
    return {}


FUZZ_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


@pytest.fixture(scope="module")
def fuzz_publisher(live_service: LiveService) -> Account:
    return live_service.create_publisher(balance="50.00")


def test_fuzzed_orders_always_get_a_well_formed_gateway_reply(
    live_service: LiveService, fuzz_publisher: Account
) -> None:
    service, account = live_service, fuzz_publisher

    def base(credentials: str) -> dict[str, str]:
        fields = order_fields(account, service.unique("FUZZ"))
        del fields["CoLoginEmail"], fields["CoLoginPassword"]
        fields.update(_credentials(account, credentials))
        return fields

    seen: Counter[str] = Counter()

    @FUZZ_SETTINGS
    @given(request=fuzz_requests(base))
    def check(request: FuzzRequest) -> None:
        reply = _fuzz_send(service, ORDER, request)
        if reply is None:
            seen["refused by the web server"] += 1
            return
        assert reply.content_type == "text/plain; charset=utf-8"
        if reply.text.startswith("[SUCCESS]\n"):
            seen["success"] += 1
            assert re.fullmatch(r"\d+", success(reply)["Order"])
            return
        code = failure_code(reply)
        assert code not in {"009000", "009001"}, reply.text
        assert reply.text.count("[ERRORMSGBEGIN]") == 1, reply.text
        assert reply.text.count("[ERRORMSGEND]") == 1, reply.text
        seen[code] += 1

    check()
    # The fuzzing reached intake, not only the first checks.
    assert seen["success"] > 0, seen
    assert len(seen) > 5, seen


def test_fuzzed_status_calls_always_get_well_formed_xml(
    live_service: LiveService, fuzz_publisher: Account
) -> None:
    service, account = live_service, fuzz_publisher

    def base(credentials: str) -> dict[str, str]:
        fields = {"function": "getOrderStatusByInvoice", "Invoice": "A[*|*]B"}
        fields.update(_credentials(account, credentials))
        return fields

    seen: Counter[str] = Counter()

    @FUZZ_SETTINGS
    @given(request=fuzz_requests(base))
    def check(request: FuzzRequest) -> None:
        reply = _fuzz_send(service, STATUS, request)
        if reply is None:
            return
        found = sections(reply)
        assert 1 <= len(found) <= 100
        for section in found:
            assert section["ErrorNum"] in STATUS_ERROR_NUMS, section
            seen[section["ErrorNum"]] += 1

    check()
    assert seen["300"] > 0, seen


# --- malformed HTTP -------------------------------------------------------------------------
def raw_request(service: LiveService, data: bytes, *, half_close: bool = False) -> bytes:
    """Send raw bytes and return whatever the server answers before it closes."""
    address = urlsplit(service.base_url)
    with socket.create_connection((address.hostname, address.port), timeout=30) as sock:
        try:
            sock.sendall(data)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may answer and close before reading everything
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except ConnectionResetError:
            pass
    return b"".join(chunks)


def http_status(response: bytes) -> int | None:
    match = re.match(rb"HTTP/1\.[01] (\d{3}) ", response)
    return int(match.group(1)) if match else None


def _post(path: str, body: bytes, content_length: int | None = None) -> bytes:
    length = len(body) if content_length is None else content_length
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {length}\r\n\r\n"
    ).encode() + body


def test_invalid_percent_escapes_get_a_gateway_reply(live_service: LiveService) -> None:
    service, account = live_service, live_service.account
    fields = urlencode(order_fields(account, service.unique("PCT"), name="x"))
    for query in [
        fields + "&name=%zz",
        fields.replace("name=x", "name=Jos%e") + "&co=%",
        "%zz=%zz",
    ]:
        response = raw_request(
            service,
            f"GET {ORDER}?{query} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Connection: close\r\n\r\n".encode(),
        )
        assert http_status(response) == 200, response[:500]
        body = response.partition(b"\r\n\r\n")[2].decode()
        assert body.startswith("[SUCCESS]\n") or FAILURE.fullmatch(body), body
        response = raw_request(
            service, _post(STATUS, b"function=getOrderStatusByInvoice&" + query.encode())
        )
        assert http_status(response) == 200, response[:500]
        ET.fromstring(response.partition(b"\r\n\r\n")[2])


def test_a_body_cut_off_before_its_content_length_places_no_order(
    live_service: LiveService,
) -> None:
    """The client sends part of the body, then stops (half-closes): the order must not be
    placed with what arrived (here a cut-off street address)."""
    service, account = live_service, live_service.account
    invoice = service.unique("TRUNC")
    fields = order_fields(account, invoice)
    del fields["addr"]
    body = urlencode(fields).encode() + b"&addr=" + quote_plus("123 Some Street").encode()
    cut = body[: -len(b"Street")]
    for path in (ORDER, STATUS):
        request = _post(path, cut, content_length=len(body))
        response = raw_request(service, request, half_close=True)
        status = http_status(response)
        # A reply in the gateway's format, the web server's 400 for a body that ended before
        # its length, or the connection is simply closed.
        if status == 400:
            assert response.endswith(b"\r\n\r\nThe request body ended before its length.\n")
        elif response:
            assert status == 200, response[:500]
            reply_body = response.partition(b"\r\n\r\n")[2]
            if path == ORDER:
                assert FAILURE.fullmatch(reply_body.decode()), reply_body
            else:
                assert sections(Reply(200, reply_body, "application/xml"))[0]["ErrorNum"] == "400"
    [section] = sections(send(service, STATUS, fields=status_fields(account, invoice)))
    assert section["ErrorNum"] == "300", section


def test_a_one_megabyte_body_is_refused_in_the_gateways_format(
    live_service: LiveService,
) -> None:
    """The client sends it all before reading: it must get the reply (000046 / ErrorNum
    400), every time, not a connection reset because the server closed early."""
    service, account = live_service, live_service.account
    fields = urlencode(order_fields(account, service.unique("BIG"))).encode()
    body = fields + b"&SpecialText=" + b"a" * (1024 * 1024)
    for _ in range(5):
        assert failure_code(send(service, ORDER, body=body)) == "000046"
        status_body = b"function=getOrderStatusByInvoice&" + body
        [section] = sections(send(service, STATUS, body=status_body))
        assert section["ErrorNum"] == "400"
        response = raw_request(service, _post(ORDER, body))
        assert http_status(response) == 200, response[:500]
        assert FAILURE.fullmatch(response.partition(b"\r\n\r\n")[2].decode()), response


def test_a_query_string_too_long_for_the_web_server_is_not_a_server_error(
    live_service: LiveService,
) -> None:
    response = raw_request(
        live_service,
        f"GET {ORDER}?name={'a' * 70_000} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode(),
    )
    assert http_status(response) == 414, response[:500]
