from __future__ import annotations

from django.db import models


class WorkerHeartbeat(models.Model):
    """A running `pressrun worker` says it is alive here every few seconds.

    A task left RUNNING by a worker whose heartbeat stopped (killed, machine lost) is put
    back in the queue by the next worker: tasks are written to be safe to run twice.
    """

    worker_id = models.CharField(max_length=64, primary_key=True)
    hostname = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    last_seen = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.worker_id} ({self.hostname}:{self.pid})"
