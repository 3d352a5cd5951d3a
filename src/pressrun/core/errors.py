"""Base class for domain errors: a refusal with a message meant for the person who asked."""

from __future__ import annotations

from django.http import Http404


class DomainError(Exception):
    """A business rule refused an action. `message` is safe to show to the caller."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PageNotFound(Http404):
    """A 404 whose message is written for the person reading the page: the site's
    not-found page shows it ("Order 12 was deleted on …"). Django's own Http404 messages
    ("No Order matches the given query.") speak to developers and are never shown."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
