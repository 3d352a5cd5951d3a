"""Domain events (core/events.py): subscribers called in the publisher's transaction, and a
publication prepared before it, whose prepared writes wait for the id the transaction gives."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from pressrun.core.events import (
    DomainEvent,
    publication_prepare,
    publish,
    subscribe,
    unsubscribe,
)
from pressrun.core.prepared import PENDING_ID


@dataclass(frozen=True)
class Happened(DomainEvent):
    subject: dict[str, int]


@dataclass
class Write:
    calls: list[str]
    name: str

    def execute(self, pending_id: int | None = None) -> None:
        self.calls.append(f"{self.name}:{pending_id}")


class Recorder:
    """What the subscribers did, in order; `writes` is what the preparing one returns."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.writes: list[Write] | None = [Write(self.calls, "row")]

    def plain(self, event: Happened) -> None:
        self.calls.append(f"plain sees {event.subject['id']}")

    def prepared(self, event: Happened) -> None:
        self.calls.append(f"prepared in the transaction sees {event.subject['id']}")

    def prepare(self, event: Happened) -> list[Write] | None:
        self.calls.append(f"prepare sees {event.subject['id']}")
        return self.writes


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    recorded = Recorder()
    subscribe(Happened, recorded.plain)
    subscribe(Happened, recorded.prepared, prepare=recorded.prepare)
    yield recorded
    unsubscribe(Happened, recorded.plain)
    unsubscribe(Happened, recorded.prepared)


def test_publish_calls_every_subscriber_in_order(recorder: Recorder) -> None:
    publish(Happened({"id": 7}))
    assert recorder.calls == ["plain sees 7", "prepared in the transaction sees 7"]


def test_a_prepared_publication_writes_with_the_id_given_in_the_transaction(
    recorder: Recorder,
) -> None:
    subject = {"id": PENDING_ID}
    publication = publication_prepare(Happened(subject))
    assert recorder.calls == [f"prepare sees {PENDING_ID}"]
    subject["id"] = 12  # the INSERT gave the row its id
    publication.publish(12)
    assert recorder.calls == [f"prepare sees {PENDING_ID}", "row:12", "plain sees 12"]


def test_a_subscriber_whose_prepare_returns_none_is_called_in_the_transaction(
    recorder: Recorder,
) -> None:
    recorder.writes = None
    subject = {"id": PENDING_ID}
    publication = publication_prepare(Happened(subject))
    subject["id"] = 12
    publication.publish(12)
    assert recorder.calls == [
        f"prepare sees {PENDING_ID}",
        "plain sees 12",
        "prepared in the transaction sees 12",
    ]


def test_a_subscriber_with_nothing_to_write_writes_nothing(recorder: Recorder) -> None:
    recorder.writes = []
    subject = {"id": PENDING_ID}
    publication = publication_prepare(Happened(subject))
    subject["id"] = 12
    publication.publish(12)
    assert recorder.calls == [f"prepare sees {PENDING_ID}", "plain sees 12"]


def test_a_subscriber_subscribed_again_without_prepare_is_no_longer_prepared(
    recorder: Recorder,
) -> None:
    unsubscribe(Happened, recorder.prepared)
    subscribe(Happened, recorder.prepared)
    subject = {"id": PENDING_ID}
    publication = publication_prepare(Happened(subject))
    subject["id"] = 12
    publication.publish(12)
    assert recorder.calls == ["plain sees 12", "prepared in the transaction sees 12"]
