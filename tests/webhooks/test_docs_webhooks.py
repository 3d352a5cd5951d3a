"""docs/webhooks.md: its Python verification example runs as written and agrees with
pressrun's own signatures; the event table lists exactly the event types; the body example
has exactly the keys pressrun sends."""

from __future__ import annotations

import contextlib
import io
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from pressrun.webhooks.models import TEST_EVENT_TYPE, WebhookEventType
from pressrun.webhooks.services import RETRY_SCHEDULE
from pressrun.webhooks.signing import secret_generate, signature_header

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def block(language: str, after: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index(after)
    match = re.search(rf"```{language}\n(.*?)```", text[start:], re.DOTALL)
    assert match, f"no {language} block after {after!r}"
    return match.group(1)


def run_python_example() -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "example"}
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        exec(compile(block("python", "### Python"), str(DOC), "exec"), namespace)  # noqa: S102
    assert output.getvalue() == "signature verified\n"
    return namespace


def test_python_example_runs_as_written() -> None:
    run_python_example()


def test_python_example_agrees_with_pressrun() -> None:
    verify = run_python_example()["verify_pressrun_signature"]
    secret = secret_generate()
    body = '{"id":"evt_1","type":"order.placed","order":{"invoice":"Ä-1"}}'.encode()
    now = int(time.time())
    header = signature_header(secret=secret, timestamp=now, body=body)
    assert verify(secret, header, body) is True
    assert verify(secret, header, body[:-1]) is False
    assert verify(secret_generate(), header, body) is False
    assert verify(secret, header.replace(f"t={now}", f"t={now - 1}"), body) is False
    old = signature_header(secret=secret, timestamp=now - 301, body=body)
    assert verify(secret, old, body) is False
    assert verify(secret, "", body) is False
    assert verify(secret, "v1=abc", body) is False


def test_event_table_lists_every_type() -> None:
    text = DOC.read_text(encoding="utf-8")
    table = text[text.index("## Events") : text.index("## The request")]
    listed = re.findall(r"^\| `([a-z_.]+)` \|", table, re.MULTILINE)
    assert listed == ["type", *WebhookEventType.values, TEST_EVENT_TYPE]  # header first


def test_body_example_has_the_keys_pressrun_sends(
    make_publisher: Any, make_project: Any, settings: Any
) -> None:
    from pressrun.orders.requests import LineRequest, OrderRequest, RecipientRequest
    from pressrun.orders.services import order_place
    from pressrun.webhooks.payload import event_body

    example = json.loads(block("json", "## The body"))
    publisher = make_publisher(balance="20")
    project = make_project(publisher)
    order = order_place(
        request=OrderRequest(
            publisher_id=publisher.id,
            lines=(LineRequest(project_id=project.id, quantity=1),),
            recipient=RecipientRequest(
                name="A", address="1 Main St", city="Austin", state="TX", postal_code="78701"
            ),
            mode="prod",
            source="gateway",
        ),
        publisher=publisher,
    )
    from django.utils import timezone

    sent = json.loads(
        event_body(
            event_id="evt_x",
            event_type="order.placed",
            created=timezone.now(),
            publisher_id=publisher.id,
            order=order,
        )
    )
    assert list(sent) == list(example)
    assert list(sent["order"]) == list(example["order"])
    assert list(example["order"]["shipment"]) == [
        "ship_date",
        "carrier",
        "service",
        "tracking_id",
        "tracking_url",
    ]


def test_schedule_is_the_documented_one() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert RETRY_SCHEDULE == (1, 4, 16, 64, 256)
    assert "**1, 4, 16, 64 and 256 minutes**" in text


pytestmark = pytest.mark.django_db
