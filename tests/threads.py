"""Running jobs on threads of their own at once, as concurrent requests or workers would."""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.db import connection


def run_together(*jobs: Callable[[], None]) -> list[BaseException]:
    """Run each job on a thread of its own, all started together; wait for all of them and
    return what they raised. Each thread closes its own database connection when done (the
    test's database is dropped at its end, and an open connection would hold it)."""
    raised: list[BaseException] = []

    def run(job: Callable[[], None]) -> None:
        try:
            job()
        except BaseException as exc:  # reported to the caller
            raised.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return raised
