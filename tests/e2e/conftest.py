"""End-to-end tests use the session's live service (tests/live.py, registered in
tests/conftest.py). The names below are re-exported for tests that import them from here;
the fixtures themselves are not, so the session keeps a single service."""

from tests.live import CD_SLEEVE, MAIN_PROJECTS, Account, LiveService

__all__ = ["CD_SLEEVE", "MAIN_PROJECTS", "Account", "LiveService"]
