"""What-if settings for `bench/run.py --settings stock_sqlite_settings`: pressrun on Django's
stock SQLite backend, without the fair write lock of `pressrun.core.sqlite` (the comparison
in docs/performance.md)."""

from pressrun.settings import *  # noqa: F403
from pressrun.settings import DATABASES

DATABASES["default"]["ENGINE"] = "django.db.backends.sqlite3"
