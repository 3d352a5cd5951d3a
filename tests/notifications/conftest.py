"""Fixtures for the email tests: tasks run at once, on-commit work runs when the test says."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from pressrun.orders.models import Order
from tests import intake

BASE_URL = "https://press.example"


@pytest.fixture(autouse=True)
def _email_settings(settings: Any) -> None:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.DEFAULT_FROM_EMAIL = "orders@press.example"
    settings.PRESSRUN_PUBLIC_BASE_URL = BASE_URL


@pytest.fixture
def make_account(make_publisher: Callable[..., Any]) -> Callable[..., Any]:
    """A publisher (`make_publisher`'s arguments) with the given settings saved on it."""

    def make(
        *, balance: str = "0", company: str = "", email: str | None = None, **fields: Any
    ) -> Any:
        publisher = make_publisher(balance=balance, company=company, email=email)
        for name, value in fields.items():
            setattr(publisher, name, value)
        if fields:
            publisher.save(update_fields=list(fields))
        return publisher

    return make


@pytest.fixture
def publisher(make_account: Callable[..., Any]) -> Any:
    return make_account(email="label@example.com", company="Acme Discs")


@pytest.fixture
def cd(make_project: Callable[..., Any], publisher: Any) -> Any:
    return make_project(publisher, title="Greatest Hits", price=Decimal("4.50"))


@pytest.fixture
def cd_for(make_project: Callable[..., Any]) -> Callable[[Any], Any]:
    """A $4.50 CD in a sleeve for the given publisher."""
    return lambda publisher: make_project(publisher, title="Greatest Hits", price=Decimal("4.50"))


@pytest.fixture
def place(
    django_capture_on_commit_callbacks: Any,
) -> Callable[..., Order]:
    """Place an order through intake and run its follow-up work (the notification task and
    the sends it queues) as the worker would after the commit."""

    def make(publisher: Any, project: Any, quantity: int = 2, **kwargs: Any) -> Order:
        email = kwargs.pop("email", intake.ANN["email"])
        recipient = kwargs.pop("recipient", {**intake.ANN, "email": email})
        with django_capture_on_commit_callbacks(execute=True):
            return intake.place(publisher, [(project, quantity)], recipient=recipient, **kwargs)

    return make
