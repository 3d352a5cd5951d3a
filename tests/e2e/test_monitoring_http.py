"""/readyz and /metrics on the real `pressrun serve` (two processes) and `pressrun worker`:
the probe is ready once the worker beats, the scrape counts the requests that every server
process answered (prometheus-client's multiprocess mode), and the orders placed over HTTP.
On SQLite, and on PostgreSQL when PRESSRUN_DATABASE_URL is set."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client import multiprocess
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.test_gateway_http import ORDER, order_fields, send, success
from tests.live import LiveService, running_service

pytestmark = pytest.mark.e2e

TOKEN = "e2e-metrics-token-5f1d"
HEALTHZ_OK = (
    "pressrun_http_requests_total",
    (("endpoint", "/healthz"), ("method", "GET"), ("status", "200")),
)


def get(service: LiveService, path: str, **headers: str) -> tuple[int, str]:
    request = urllib.request.Request(service.url(path), headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def scrape(service: LiveService) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, text = get(service, "/metrics", Authorization=f"Bearer {TOKEN}")
    assert status == 200, text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def healthz_by_process(service: LiveService) -> dict[str, float]:
    """The /healthz count in each server process's own file: pid -> count."""
    (directory,) = (service.data_dir / "metrics").glob("serve-*")
    counts = {}
    for path in sorted(directory.glob("counter_*.db")):
        pid = path.stem.removeprefix("counter_")
        for family in multiprocess.MultiProcessCollector.merge([str(path)], accumulate=False):
            for sample in family.samples:
                if (sample.name, tuple(sorted(sample.labels.items()))) == HEALTHZ_OK:
                    counts[pid] = sample.value
    return counts


def test_readiness_and_metrics_from_every_server_process(tmp_path: Path) -> None:
    with running_service(
        tmp_path, PRESSRUN_METRICS_TOKEN=TOKEN, PRESSRUN_WEB_PROCESSES="2"
    ) as service:
        # The worker has sent its first heartbeat before it said it started.
        status, text = get(service, "/readyz")
        assert status == 200, text
        assert text.startswith("ready\ndatabase: ok (answers)\nmigrations: ok (all applied)\n")
        assert "worker: ok (1 alive)" in text

        assert get(service, "/metrics")[0] == 401
        assert get(service, "/metrics", Authorization="Bearer not-the-token")[0] == 401

        account = service.create_publisher(balance="100.00")
        for invoice, mode in (("E-1", "prod"), ("E-2", "prod"), ("E-3", "test")):
            success(send(service, ORDER, fields=order_fields(account, invoice, mode=mode)))

        # Many short connections at once, until both server processes have answered some
        # (the kernel hands each connection to one of them); each sends a known number.
        sent = 0
        with ThreadPoolExecutor(max_workers=16) as pool:
            for _ in range(20):
                statuses = list(pool.map(lambda _: get(service, "/healthz")[0], range(100)))
                assert set(statuses) == {200}
                sent += len(statuses)
                if len(healthz_by_process(service)) >= 2:
                    break
        per_process = healthz_by_process(service)
        assert len(per_process) == 2, per_process
        assert all(count > 0 for count in per_process.values()), per_process
        assert sum(per_process.values()) == sent

        samples = scrape(service)
        # Whichever process answered the scrape, it counted every process's requests.
        assert samples[HEALTHZ_OK] == sent
        latency_count = (
            "pressrun_http_request_duration_seconds_count",
            (("endpoint", "/healthz"),),
        )
        assert samples[latency_count] == sent
        gateway = (
            "pressrun_http_requests_total",
            (("endpoint", "/gateway/order"), ("method", "POST"), ("status", "200")),
        )
        assert samples[gateway] == 3
        placed = {
            labels: value
            for (name, labels), value in samples.items()
            if name == "pressrun_orders_placed_total" and value
        }
        assert placed == {
            (("channel", "gateway"), ("mode", "prod")): 2,
            (("channel", "gateway"), ("mode", "test")): 1,
        }
        assert samples[("pressrun_workers_alive", ())] == 1
        assert samples[("pressrun_orders_hold", ())] == 0

        # Two scrapes in a row: the same counts, plus the first scrape itself.
        time.sleep(0.1)
        again = scrape(service)
        metrics_ok = (
            "pressrun_http_requests_total",
            (("endpoint", "/metrics"), ("method", "GET"), ("status", "200")),
        )
        assert again[metrics_ok] == samples.get(metrics_ok, 0) + 1
        assert again[HEALTHZ_OK] == sent
    # The server's counts went with it.
    assert list((tmp_path / "metrics").iterdir()) == []
