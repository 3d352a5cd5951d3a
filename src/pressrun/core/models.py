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


INSTALLATION_ID = 1


class Installation(models.Model):
    """Settings that belong to this installation rather than to one shell's environment:
    one row (id 1), written only through `core.services`.

    `public_base_url` is the address carts, customers and publishers reach (saved by an
    operator); `served_address` is where `pressrun serve` last started, used while nothing is
    saved. `core.selectors.public_base_url` decides which applies.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=INSTALLATION_ID)
    public_base_url = models.CharField(
        "public base URL",
        max_length=200,
        blank=True,
        help_text="Where carts, customers and publishers reach this installation, e.g. "
        "https://orders.example.com. Blank: the address pressrun serve last started on.",
    )
    public_base_url_changed_at = models.DateTimeField(null=True, blank=True)
    public_base_url_changed_by = models.CharField(max_length=150, blank=True)
    served_address = models.CharField(
        max_length=200,
        blank=True,
        help_text="http://host:port that pressrun serve last started on.",
    )
    served_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "installation settings"
        verbose_name_plural = "installation settings"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(id=INSTALLATION_ID), name="installation_single_row"
            )
        ]

    def __str__(self) -> str:
        return "Installation settings"


class RateWindow(models.Model):
    """How many requests one sender made to a rate-limited endpoint in one fixed window (a
    minute): the shared count of `core.rate_limit`, incremented atomically by every process.

    It was the carts' `DeliveryRateWindow`: the index and the constraint keep the names they
    had there, so moving the model renamed only its table (no rebuild, no copy)."""

    scope = models.CharField(
        max_length=120,
        help_text='Who is counted, as the endpoint names it: "<cart>:publisher:<id>", '
        '"warehouse:connection:<id>", "unverified:<client address>"…',
    )
    window_start = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["scope", "window_start"], name="deliveryratewindow_unique_window"
            ),
        ]
        indexes = [models.Index(fields=["window_start"], name="deliveryrate_window_start")]

    def __str__(self) -> str:
        return f"{self.scope} from {self.window_start:%Y-%m-%d %H:%M}: {self.count}"


# The longest text an outbound row or attempt keeps of a URL, an error or an answer.
OUTBOUND_TEXT_LENGTH = 500


class OutboundRow(models.Model):
    """The columns in which an outbound row (a webhook delivery, a warehouse push) keeps its
    sending, as `core.outbound` reads and writes them; the row's `status` (its own choices,
    "pending" and "sending" among them) and what it sends are the model's own."""

    # Attempts of the current series (the first send, or a "Send again"), for the schedule.
    series_attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # Who holds a SENDING row: the `pressrun worker` that claimed it, or blank outside one.
    claimed_by = models.CharField(max_length=64, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    gave_up_at = models.DateTimeField(null=True, blank=True)
    last_response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=OUTBOUND_TEXT_LENGTH, blank=True)

    class Meta:
        abstract = True

    @classmethod
    def field_names_for_operators(cls) -> list[str]:
        """The row's fields as the operator's page lists them: the model's own (what is sent,
        its status) first, then the sending's columns (inherited fields come first in
        `_meta.fields`)."""
        shared = {field.name for field in OutboundRow._meta.fields}
        names = [field.name for field in cls._meta.fields]
        return [n for n in names if n not in shared] + [n for n in names if n in shared]


class OutboundAttempt(models.Model):
    """One HTTP request of an outbound row, and what came of it (`core.outbound`); the
    foreign key to its row is the model's own."""

    number = models.PositiveSmallIntegerField(
        help_text="1, 2, ... counted over every attempt at sending it."
    )
    started_at = models.DateTimeField()
    url = models.CharField(max_length=OUTBOUND_TEXT_LENGTH)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=OUTBOUND_TEXT_LENGTH, blank=True)
    response_excerpt = models.CharField(
        max_length=OUTBOUND_TEXT_LENGTH,
        blank=True,
        help_text="The start of the response body, nothing more.",
    )
    next_retry_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def succeeded(self) -> bool:
        return self.response_code is not None and 200 <= self.response_code < 300
