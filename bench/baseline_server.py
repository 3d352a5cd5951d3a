"""Serve bench/baseline_app.py the way `pressrun serve` serves pressrun.

The same server (granian with pressrun's complete-request front, `pressrun.core.webfront`),
processes, threads, deadlines and limits, so that the baseline differs from pressrun only by
what runs inside the WSGI call. Run by bench/run.py:
`python bench/baseline_server.py --port P --processes N --threads T`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from pressrun.core import webfront

BENCH = Path(__file__).resolve().parent


def load_application() -> Any:
    sys.path.insert(0, str(BENCH))
    import baseline_app

    return baseline_app.application


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    options = parser.parse_args()
    print(f"baseline serving on http://{options.host}:{options.port}/", flush=True)
    webfront.serve(
        target="baseline_app:application",
        load_application=load_application,
        host=options.host,
        port=options.port,
        processes=options.processes,
        threads=options.threads,
    )


if __name__ == "__main__":
    main()
