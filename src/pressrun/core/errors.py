"""Base class for domain errors: a refusal with a message meant for the person who asked."""

from __future__ import annotations


class DomainError(Exception):
    """A business rule refused an action. `message` is safe to show to the caller."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
