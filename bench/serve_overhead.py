"""Server CPU per request through `pressrun serve`, for one or more checkouts in turn.

Each checkout (a directory with its own `.venv`) gets a throw-away SQLite data dir, is
migrated once, then served with 1 process and 1 thread. One keep-alive client sends
`--warm` requests, then `--requests` more to each path, while the CPU of every thread of
the server's process group is read from `/proc` (schedstat, nanoseconds) before and after;
the voluntary context switches of those threads are counted the same way (each hand-over
between threads costs about one). The checkouts alternate within each round, so a machine
whose load changes affects them alike.

Paths: `/healthz` (the full middleware list) and `/gateway/status` refused before the
database (an unknown function).

Usage: python bench/serve_overhead.py CHECKOUT[=LABEL] ... [--rounds 4] [--requests 3000]
       [--threads-detail]
Prints, per round and checkout, CPU per request in µs and context switches per request.
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

PATHS = {
    "healthz": "/healthz",
    "status": "/gateway/status?function=nope&invoice=A1",
}
PORT = 8471


def server_threads(pgid: int) -> dict[tuple[int, int], tuple[int, int]]:
    """(pid, tid) -> (CPU ns, voluntary context switches) of each thread in the group."""
    found: dict[tuple[int, int], tuple[int, int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[2]) != pgid:
                continue
            for task in os.listdir(f"/proc/{pid}/task"):
                base = f"/proc/{pid}/task/{task}"
                ns = int(Path(f"{base}/schedstat").read_text().split()[0])
                status = Path(f"{base}/status").read_text()
                switches = next(
                    int(line.split()[1])
                    for line in status.splitlines()
                    if line.startswith("voluntary_ctxt_switches")
                )
                found[(pid, int(task))] = (ns, switches)
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


def wait_until_up(server: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if server.poll() is not None:
            raise SystemExit(f"the server stopped ({server.returncode})")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=5)
            connection.request("GET", "/healthz")
            connection.getresponse().read()
            connection.close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the server did not answer")


def measure(
    checkout: Path, data_dir: Path, requests: int, warm: int, detail: bool
) -> dict[str, tuple[float, float]]:
    env = dict(os.environ, PRESSRUN_DATA_DIR=str(data_dir))
    env.pop("PRESSRUN_DATABASE_URL", None)
    pressrun = str(checkout / ".venv" / "bin" / "pressrun")
    if not (data_dir / "pressrun.sqlite3").exists():
        subprocess.run(
            [pressrun, "migrate", "--no-input"], env=env, check=True, capture_output=True
        )
    server = subprocess.Popen(
        [pressrun, "serve", "--processes", "1", "--threads", "1", "--port", str(PORT)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    results = {}
    try:
        wait_until_up(server)
        connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
        for name, path in PATHS.items():
            for _ in range(warm):
                connection.request("GET", path)
                reply = connection.getresponse()
                reply.read()
            assert reply.status == 200, (path, reply.status)
            before = server_threads(server.pid)
            for _ in range(requests):
                connection.request("GET", path)
                connection.getresponse().read()
            after = server_threads(server.pid)
            cpu = sum(ns - before.get(key, (0, 0))[0] for key, (ns, _) in after.items())
            switches = sum(n - before.get(key, (0, 0))[1] for key, (_, n) in after.items())
            results[name] = (cpu / requests / 1000, switches / requests)
            if detail:
                for (pid, tid), (ns, _) in sorted(after.items()):
                    used = (ns - before.get((pid, tid), (0, 0))[0]) / requests / 1000
                    if used >= 1:
                        thread = "main" if pid == tid else str(tid)
                        print(f"    {name:<8} thread {thread:<8} {used:7.1f} µs", flush=True)
        connection.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkouts", nargs="+", help="CHECKOUT[=LABEL]")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--warm", type=int, default=300)
    parser.add_argument("--threads-detail", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="serve-overhead-") as scratch:
        for round_number in range(1, args.rounds + 1):
            print(f"round {round_number} (load {os.getloadavg()[0]:.2f})", flush=True)
            for index, spec in enumerate(args.checkouts):
                path, _, label = spec.partition("=")
                data_dir = Path(scratch) / str(index)
                data_dir.mkdir(exist_ok=True)
                results = measure(
                    Path(path).resolve(), data_dir, args.requests, args.warm, args.threads_detail
                )
                line = "  ".join(
                    f"{name} {cpu:6.1f} µs {switches:4.1f} cs"
                    for name, (cpu, switches) in results.items()
                )
                print(f"  {label or path:<12} {line}", flush=True)


if __name__ == "__main__":
    main()
