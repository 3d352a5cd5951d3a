"""`pressrun createproject --ecommerce-ids`: parsed on the way in, refused when malformed."""

from __future__ import annotations

import sys
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connections

from pressrun import cli
from pressrun.catalog.models import Project, ProjectCartId

pytestmark = pytest.mark.django_db

MESSAGE = (
    "'5000-A' (position 1) and '6000-B' (position 8) are not in brackets, so it is unclear "
    "where one ID ends; wrap each ID in <>, e.g. <5000-A> <6000-B>."
)


def arguments(publisher_id: int, ecommerce_ids: str) -> list[str]:
    return [
        "createproject",
        f"--publisher={publisher_id}",
        "--title=Live DVD",
        "--media=dvd",
        "--packaging=dvd-case",
        "--price=6.25",
        f"--ecommerce-ids={ecommerce_ids}",
    ]


def test_ids_are_parsed(make_publisher: Any) -> None:
    publisher = make_publisher()
    out = StringIO()
    call_command(*arguments(publisher.id, "<5000-A> <6000-B>"), stdout=out)
    project = Project.objects.get(id=int(out.getvalue()))
    assert list(
        ProjectCartId.objects.filter(project=project).values_list("cart_id", flat=True)
    ) == [
        "5000-A",
        "6000-B",
    ]


def test_malformed_ids_are_refused_with_the_parsers_message(make_publisher: Any) -> None:
    publisher = make_publisher()
    with pytest.raises(CommandError) as caught:
        call_command(*arguments(publisher.id, "5000-A 6000-B"), stdout=StringIO())
    assert str(caught.value) == MESSAGE
    assert not Project.objects.exists()


def test_command_line_prints_the_message_and_exits_non_zero(
    make_publisher: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    publisher = make_publisher()
    monkeypatch.setattr(sys, "argv", ["pressrun", *arguments(publisher.id, "<5000-A")])
    # A command run from the command line closes the connections when it ends; the test's
    # connection holds its transaction, so keep it open.
    monkeypatch.setattr(connections, "close_all", lambda: None)
    with pytest.raises(SystemExit) as caught:
        cli.main()
    assert caught.value.code == 1
    assert capsys.readouterr().err.strip() == (
        "CommandError: The '<' at position 1 is never closed; add '>' after the ID."
    )
    assert not Project.objects.exists()
