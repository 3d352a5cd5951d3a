"""Wait until a pressrun server answers GET <base>/health, then exit 0 (1 after the timeout).

`make run` starts `pressrun serve` in the background and runs `pressrun demo` once the server
answers: by then the server has recorded the address it serves on, so the demo's banner (and
every URL printed later) names the port the server really listens on.

Usage: python scripts/wait_for_server.py http://127.0.0.1:8000 [timeout seconds]
"""

from __future__ import annotations

import sys
import time
import urllib.error
import urllib.request


def wait_for(base_url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base_url.rstrip("/") + "/health", timeout=2) as reply:  # noqa: S310
                if reply.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    return False


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3) or not argv[1].startswith(("http://", "https://")):
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    timeout = float(argv[2]) if len(argv) == 3 else 60.0
    if wait_for(argv[1], timeout):
        return 0
    print(f"The server did not answer at {argv[1]} within {timeout:.0f} s.", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
