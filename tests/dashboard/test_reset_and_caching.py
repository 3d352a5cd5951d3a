"""Password reset requests: the same work for known and unknown emails, a per-hour limit kept
in the database (shared by every web process, kept across restarts), and sign-in and reset
pages that are never cached."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core import mail
from django.core.cache import caches
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django_tasks_db.models import DBTaskResult

from pressrun.accounts.models import PasswordResetRequest, Publisher
from pressrun.dashboard.tasks import password_reset_email_send

pytestmark = pytest.mark.django_db

# A literal in logged SQL: a quoted string or a number (ids, timestamps, emails differ).
# Savepoint names carry a counter.
_LITERAL = re.compile(r"'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b|\"s\d+_x\d+\"")


def sql_shapes(queries: CaptureQueriesContext) -> list[str]:
    return [_LITERAL.sub("?", query["sql"]) for query in queries]


def request_reset(email: str, address: str = "198.51.100.30") -> Any:
    return Client(REMOTE_ADDR=address).post("/password-reset", {"email": email})


def test_known_and_unknown_emails_do_the_same_work(publisher: Publisher, settings: Any) -> None:
    """The probe timed 4.8 ms for an existing email and 3.7 ms for an unknown one: only the
    first looked the account up and queued an email. Now both run the same statements."""
    settings.TASKS = {"default": {"BACKEND": "pressrun.core.task_backend.DatabaseBackend"}}
    shapes = {}
    for email in (publisher.email, "nobody@example.com"):
        with CaptureQueriesContext(connection) as queries:
            response = request_reset(email)
        assert response.status_code == 302
        shapes[email] = sql_shapes(queries)
    assert shapes[publisher.email] == shapes["nobody@example.com"]
    assert not any("accounts_publisher" in sql for sql in shapes[publisher.email])
    queued = DBTaskResult.objects.filter(task_path=password_reset_email_send.module_path)
    assert sorted(task.args_kwargs["kwargs"]["email"] for task in queued) == [
        "nobody@example.com",
        publisher.email,
    ]


def test_the_task_emails_only_an_account(publisher: Publisher) -> None:
    assert password_reset_email_send.call(email="Nobody@Example.com") is False
    assert password_reset_email_send.call(email="OWNER@example.com ") is True
    assert [message.to for message in mail.outbox] == [[publisher.email]]


def test_the_hourly_limit_is_kept_in_the_database(publisher: Publisher) -> None:
    """20 requests gave 6 emails: the count lived in one process's memory. Forgetting every
    cache (another web process, a restart) now changes nothing."""
    for n in range(20):
        if n % 3 == 0:
            for alias in ("default", "credentials"):
                caches[alias].clear()
        assert request_reset(publisher.email, address=f"10.4.0.{n}").status_code == 302
    assert len(mail.outbox) == 5
    assert PasswordResetRequest.objects.count() == 5


def test_the_hourly_limit_per_address_spans_emails(publisher: Publisher) -> None:
    for n in range(7):
        request_reset(f"someone{n}@example.com")
    request_reset(publisher.email)
    assert mail.outbox == []
    assert PasswordResetRequest.objects.count() == 5
    request_reset(publisher.email, address="198.51.100.31")
    assert len(mail.outbox) == 1


@pytest.mark.parametrize("path", ["/sign-in", "/password-reset", "/password-reset/zz/not-a-token"])
def test_sign_in_and_reset_pages_are_never_cached(client: Client, path: str) -> None:
    response = client.get(path)
    assert response["Cache-Control"] == "no-store, private"


def test_a_reset_link_page_is_never_cached(client: Client, publisher: Publisher) -> None:
    from pressrun.dashboard.tasks import password_reset_link

    link = password_reset_link(publisher).removeprefix("http://127.0.0.1:8000")
    response = client.get(link)
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store, private"
    posted = client.post("/sign-in", {"email": publisher.email, "password": "wrong wrong"})
    assert posted["Cache-Control"] == "no-store, private"
