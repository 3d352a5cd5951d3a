"""Time the steps of a 100-invoice getOrderStatusByInvoice call in-process.

The census (`bench/census.py`) times each step once inside a full benchmark run; this times
the same steps alone, in several rounds, so two versions of the code can be compared on the
same installation (run it once per version, alternating, e.g. with the other version's
`src` first on PYTHONPATH). Run it against a benchmark installation kept with
`bench/run.py --keep` (its environment names the data dir and the database). Prints one
JSON object: per step, the median over the rounds of the mean milliseconds per call (wall
and this process's CPU; on SQLite all of the work is in-process), and on SQLite how long
each step holds the database write lock per call. The metering step runs twice: as the
publisher's calls are (charged, once the benchmark made over 1,000 calls), and with the free
allowance raised for the step. The whole call runs three ways: the view alone, through
Django's test client (the full middleware list), and through `pressrun.wsgi.application`,
what `pressrun serve` hands each request to (the gateway's shorter middleware list), without
the server around it.

Usage: python bench/status_steps.py EMAIL PASSWORD FILLED_COUNT [ROUNDS]
"""

from __future__ import annotations

import io
import itertools
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

CALLS = int(os.environ.get("BENCH_STATUS_STEPS_CALLS", "100"))
POOL = 200  # different requests, used in turn


def _timed(function: Callable[[], Any], calls: int) -> tuple[float, float]:
    """Mean wall and CPU milliseconds per call of `function` (after one warm call)."""
    function()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(calls):
        function()
    return (
        (time.perf_counter() - wall) * 1000 / calls,
        (time.process_time() - cpu) * 1000 / calls,
    )


def main() -> None:
    email, password, filled = sys.argv[1:4]
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pressrun.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.test import Client, RequestFactory

    import pressrun
    from pressrun.accounts.services import publisher_authenticate
    from pressrun.billing.services import status_call_record
    from pressrun.gateway.status import StatusSection, render_status_xml, split_invoices
    from pressrun.gateway.views import order_status_by_invoice
    from pressrun.orders.selectors import order_by_invoices

    rng = random.Random(7)
    filled_count = int(filled)

    def invoices() -> list[str]:
        return [f"BULK{i:07d}" for i in rng.sample(range(filled_count), 100)]

    publisher = publisher_authenticate(email=email, password=password, client_address="127.0.0.1")
    wanted = invoices()
    text = "[*|*]".join(wanted)
    found = order_by_invoices(publisher_id=publisher.id, invoices=wanted)
    assert len(found) == 100, len(found)
    sections = [StatusSection(0, "", invoice, found.get(invoice)) for invoice in wanted]
    free = settings.STATUS_CALLS_FREE_PER_DAY

    def record_free() -> None:
        settings.STATUS_CALLS_FREE_PER_DAY = 10**12
        try:
            status_call_record(publisher_id=publisher.id)
        finally:
            settings.STATUS_CALLS_FREE_PER_DAY = free

    # The requests' invoices and bodies are drawn before the timing: drawing and encoding
    # them is the client's work (0.07 and 0.16 ms per call), not the server's.
    pool = [invoices() for _ in range(POOL)]
    bodies = [
        urlencode(
            {
                "function": "getOrderStatusByInvoice",
                "CoLoginEmail": email,
                "CoLoginPassword": password,
                "Invoice": "[*|*]".join(drawn),
            }
        )
        for drawn in pool
    ]
    turn = itertools.count()

    def body() -> str:
        return bodies[next(turn) % POOL]

    def drawn() -> list[str]:
        return pool[next(turn) % POOL]

    factory = RequestFactory(HTTP_HOST="127.0.0.1")
    client = Client(HTTP_HOST="127.0.0.1")
    form = "application/x-www-form-urlencoded"

    def view() -> None:
        request = factory.post("/gateway/status", body(), content_type=form)
        response = order_status_by_invoice(request)
        assert response.content.count(b"<ErrorNum>0</ErrorNum>") == 100

    def through_client() -> None:
        response = client.post("/gateway/status", body(), content_type=form)
        assert response.content.count(b"<ErrorNum>0</ErrorNum>") == 100

    from pressrun.wsgi import application

    def through_wsgi() -> None:
        # What `pressrun serve` hands each request to: the gateway's own middleware list.
        raw = body().encode()
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/gateway/status",
            "SCRIPT_NAME": "",
            "QUERY_STRING": "",
            "CONTENT_TYPE": form,
            "CONTENT_LENGTH": str(len(raw)),
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": "127.0.0.1",
            "REMOTE_ADDR": "127.0.0.1",
            "wsgi.input": io.BytesIO(raw),
            "wsgi.errors": sys.stderr,
            "wsgi.url_scheme": "http",
            "wsgi.version": (1, 0),
            "wsgi.multithread": False,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }
        result = application(environ, lambda status, headers, exc_info=None: None)
        try:
            assert b"".join(result).count(b"<ErrorNum>0</ErrorNum>") == 100
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()

    steps: dict[str, Callable[[], Any]] = {
        "split_invoices": lambda: split_invoices(text),
        "publisher_authenticate (cache hit)": lambda: publisher_authenticate(
            email=email, password=password, client_address="127.0.0.1"
        ),
        "status_call_record (charged)": lambda: status_call_record(publisher_id=publisher.id),
        "status_call_record (free)": record_free,
        "order_by_invoices (100 of the filled orders)": lambda: order_by_invoices(
            publisher_id=publisher.id, invoices=drawn()
        ),
        "render_status_xml (100 found)": lambda: render_status_xml(sections),
        "view, no middleware": view,
        "test client, full stack": through_client,
        "WSGI application, gateway middleware": through_wsgi,
    }
    # SQLite: the write lock (BEGIN IMMEDIATE to COMMIT) each step holds, per call.
    from django.db import connection

    lock = connection._lock() if connection.vendor == "sqlite" else None  # type: ignore[attr-defined]
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in steps}
    held: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, function in steps.items():
            before = lock.held_seconds if lock is not None else 0.0
            samples[name].append(_timed(function, CALLS))
            if lock is not None:
                held[name].append((lock.held_seconds - before) * 1000 / (CALLS + 1))
    result = {
        "source": os.path.dirname(pressrun.__file__),
        "calls_per_round": CALLS,
        "rounds": rounds,
        "ms_per_call (wall / cpu, median of rounds)": {
            name: [
                round(statistics.median(wall for wall, _ in values), 4),
                round(statistics.median(cpu for _, cpu in values), 4),
            ]
            for name, values in samples.items()
        },
        "write_lock_ms_per_call (median of rounds)": {
            name: round(statistics.median(values), 4)
            for name, values in held.items()
            if any(values)
        },
    }
    text = json.dumps(result, indent=1)
    # One line per step.
    print(text.replace("[\n   ", "[").replace(",\n   ", ", ").replace("\n  ]", "]"))


if __name__ == "__main__":
    main()
